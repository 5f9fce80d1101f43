{#- The pinned server binaries and kubectl, checksums verified by Salt. A missing
    artifact stops the whole run (failhard) before any config or unit is written, with
    a comment naming component, file, version, mirror path and URL. #}
{%- from "controlplane/map.jinja" import cp with context %}
{%- set key = 'vent:artifacts:releases:kubernetes' %}
{%- set offline = not salt['pillar.get']('vent:artifacts:allow_download', True) %}
{%- set arts = [] %}
{%- for name in cp.binaries %}
{%-   do arts.append(salt['vent.artifact']('kubernetes', name)) %}
{%- endfor %}
{%- set missing = [] %}
{%- if offline %}
{%-   for art in arts if not salt['file.file_exists'](art.mirror) %}
{%-     do missing.append(art) %}
{%-   endfor %}
{%- endif %}

{%- if missing %}

controlplane-binaries-install-artifacts-missing:
  test.fail_without_changes:
    - name: {{ key }}
    - comment: >-
        {{ key }} version {{ cp.version }}: {{ missing | length }} file(s) missing from
        the mirror and vent:artifacts:allow_download is false;
        {%- for art in missing %}
        {{ art.name }} ({{ key }}:files:{{ art.name }}): {{ art.mirror }} (upstream {{ art.url }});
        {%- endfor %}
        run `./vent artifacts fetch` on a machine with internet access or copy the files
        there
    - failhard: true

{%- else %}
{%-   for art in arts %}

controlplane-binaries-install-{{ art.name }}-file-managed:
  file.managed:
    - name: {{ cp.dirs.bin }}/{{ art.name }}
    - source: {{ art.sources | json }}
    - source_hash: {{ art.source_hash }}
    - mode: "0755"
    - user: root
    - group: root
    - makedirs: true

controlplane-binaries-install-{{ art.name }}-artifact-failed:
  test.fail_without_changes:
    - name: {{ key }}:files:{{ art.name }}
    - comment: >-
        {{ key }}:files:{{ art.name }} version {{ art.version }}: neither {{ art.mirror }}
        nor {{ art.url }} gave a file with {{ art.source_hash }}
    - failhard: true
    - onfail:
      - file: controlplane-binaries-install-{{ art.name }}-file-managed

{%-   endfor %}
{%- endif %}
