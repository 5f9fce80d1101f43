{%- from "controlplane/map.jinja" import cp with context %}
{%- for component, file in cp.artifacts %}

controlplane-binaries-clean-{{ file }}-vent_artifact-removed:
  vent_artifact.removed:
    - component: {{ component }}
    - file: {{ file }}
    - bin_dir: {{ cp.dirs.bin }}
{%- endfor %}
