{%- from "controlplane/map.jinja" import cp with context %}
{%- for name in cp.binaries %}

controlplane-binaries-clean-{{ name }}-file-absent:
  file.absent:
    - name: {{ cp.dirs.bin }}/{{ name }}
{%- endfor %}
