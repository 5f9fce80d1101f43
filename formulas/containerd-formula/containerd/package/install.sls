{%- from "containerd/map.jinja" import containerd with context %}
{%- if containerd.install == 'package' %}
containerd-package-install-pkg-installed:
  pkg.installed:
    - name: {{ containerd.package.containerd }}
{%- elif containerd.install == 'release' %}
{%-   from "node/macros.jinja" import release_binaries %}
{{ release_binaries('containerd-package-install-containerd', 'containerd', 'containerd',
                    containerd.bin_dir) }}
{%- else %}
containerd-package-install-test-fail_without_changes:
  test.fail_without_changes:
    - comment: "vent:containerd:install: {{ containerd.install }} is neither package nor release"
{%- endif %}
