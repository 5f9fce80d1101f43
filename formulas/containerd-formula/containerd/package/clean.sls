{%- from "containerd/map.jinja" import containerd with context %}
{%- if containerd.install == 'package' %}
containerd-package-clean-pkg-removed:
  pkg.removed:
    - name: {{ containerd.package.containerd }}
{%- else %}
{%-   for name in ('containerd', 'containerd-shim-runc-v2', 'ctr') %}
containerd-package-clean-{{ name }}-file-absent:
  file.absent:
    - name: {{ containerd.bin_dir }}/{{ name }}
{%-   endfor %}

containerd-package-clean-unpacked-file-absent:
  file.absent:
    - name: /opt/vent/containerd
{%- endif %}
