{%- from "containerd/map.jinja" import containerd with context %}
{%- if containerd.install == 'package' %}
containerd-package-clean-pkg-removed:
  pkg.removed:
    - name: {{ containerd.package.containerd }}
{%- else %}

containerd-package-clean-containerd-vent_artifact-removed:
  vent_artifact.removed:
    - component: containerd
    - file: containerd
    - bin_dir: {{ containerd.bin_dir }}
{%- endif %}
