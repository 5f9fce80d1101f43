{#- flannel's CNI plugin is its own release (flannel-io/cni-plugin), not part of the
    containernetworking plugins: installed from vent:artifacts:releases:<release>
    with its pinned checksum, under the name CNI looks up ("type": "flannel"). #}
{%- from "flannel/map.jinja" import flannel with context %}
{%- set key = 'vent:artifacts:releases:' ~ flannel.cni_plugin_release %}
{%- set entry = salt['pillar.get'](key ~ ':files:' ~ flannel.cni_plugin_file) %}
{%- set target = flannel.cni_bin_dir ~ '/' ~ flannel.cni_plugin_name %}

{%- if not entry or not (entry.get('checksums') or {}).get(salt['vent.arch']()) %}

flannel-package-install-artifact-missing:
  test.fail_without_changes:
    - comment: >-
        {{ key }}:files:{{ flannel.cni_plugin_file }} has no pinned checksum for
        {{ salt['vent.arch']() }}; add the release (version, url, checksums) to pillar
        before installing {{ target }}

{%- else %}
{%-   set art = salt['vent.artifact'](flannel.cni_plugin_release, flannel.cni_plugin_file) %}
{%-   set offline = not salt['pillar.get']('vent:artifacts:allow_download', True) %}
{%-   if offline and not salt['file.file_exists'](art.mirror) %}

flannel-package-install-artifact-missing:
  test.fail_without_changes:
    - comment: >-
        {{ key }} {{ art.name }} {{ art.version }}: {{ art.mirror }} is missing and
        vent:artifacts:allow_download is false; run `./vent artifacts fetch` or copy the
        file there

{%-   else %}

flannel-package-install-cni-plugin-file-managed:
  file.managed:
    - name: {{ target }}
    - source: {{ art.sources | json }}
    - source_hash: {{ art.source_hash }}
    - mode: "0755"
    - user: root
    - group: root
    - makedirs: true

flannel-package-install-artifact-failed:
  test.fail_without_changes:
    - comment: >-
        {{ key }} {{ art.name }} {{ art.version }}: neither {{ art.mirror }} nor
        {{ art.url }} gave a file with {{ art.source_hash }}
    - onfail:
      - file: flannel-package-install-cni-plugin-file-managed

{%-   endif %}
{%- endif %}
