{%- from "containerd/map.jinja" import containerd with context %}
{%- for name in ('runsc', 'containerd-shim-runsc-v1') %}
containerd-gvisor-clean-{{ name }}-file-absent:
  file.absent:
    - name: {{ containerd.bin_dir }}/{{ name }}
{%- endfor %}
