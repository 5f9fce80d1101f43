{#- The pinned server binaries and kubectl, checksums verified. Every file is checked
    first: a missing one stops the whole run (failhard) before anything is written,
    with one message naming each file, its version and mirror path. #}
{%- from "controlplane/map.jinja" import cp with context %}

controlplane-binaries-install-vent_artifact-available:
  vent_artifact.available:
    - files: {{ cp.artifacts | json }}
    - failhard: true
{%- for component, file in cp.artifacts %}

controlplane-binaries-install-{{ file }}-vent_artifact-installed:
  vent_artifact.installed:
    - component: {{ component }}
    - file: {{ file }}
    - bin_dir: {{ cp.dirs.bin }}
    - failhard: true
    - require:
      - vent_artifact: controlplane-binaries-install-vent_artifact-available
{%- endfor %}
