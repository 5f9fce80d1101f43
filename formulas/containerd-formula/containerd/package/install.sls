{%- from "containerd/map.jinja" import containerd with context %}
{%- if containerd.install == 'package' %}
containerd-package-install-pkg-installed:
  pkg.installed:
    - name: {{ containerd.package.containerd }}
{%- elif containerd.install == 'release' %}
containerd-package-install-containerd-vent_artifact-installed:
  vent_artifact.installed:
    - component: containerd
    - file: containerd
    - bin_dir: {{ containerd.bin_dir }}
    - failhard: true
{%- else %}
containerd-package-install-test-fail_without_changes:
  test.fail_without_changes:
    - comment: "vent:containerd:install: {{ containerd.install }} is neither package nor release"
{%- endif %}
