{%- from "containerd/map.jinja" import containerd with context %}
{%- if containerd.runc.install == 'package' %}
containerd-runc-install-pkg-installed:
  pkg.installed:
    - name: {{ containerd.package.runc }}
{%- elif containerd.runc.install == 'release' %}
{%-   from "node/macros.jinja" import release_binaries %}
{{ release_binaries('containerd-runc-install-runc', 'runc', 'runc', containerd.sbin_dir) }}
{%- else %}
containerd-runc-install-test-fail_without_changes:
  test.fail_without_changes:
    - comment: "vent:runc:install: {{ containerd.runc.install }} is neither package nor release"
{%- endif %}
