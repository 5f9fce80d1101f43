{%- from "containerd/map.jinja" import containerd with context %}
{%- if containerd.runc.install == 'package' %}
containerd-runc-install-pkg-installed:
  pkg.installed:
    - name: {{ containerd.package.runc }}
{%- elif containerd.runc.install == 'release' %}
containerd-runc-install-runc-vent_artifact-installed:
  vent_artifact.installed:
    - component: runc
    - file: runc
    - bin_dir: {{ containerd.sbin_dir }}
    - failhard: true
{%- else %}
containerd-runc-install-test-fail_without_changes:
  test.fail_without_changes:
    - comment: "vent:runc:install: {{ containerd.runc.install }} is neither package nor release"
{%- endif %}
