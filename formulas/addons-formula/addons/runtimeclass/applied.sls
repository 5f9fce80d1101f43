{#- The RuntimeClass exists only where the nodes have runsc (vent:gvisor:enabled). #}
{%- from "addons/map.jinja" import addons with context %}
{%- from "addons/macros.jinja" import applied, absent with context %}
{%- set args = ('salt://addons/files/runtimeclass.yaml.jinja', addons, addons.runtimeclass.manifest_file) %}
{%- if addons.runtimeclass.enabled %}
{{ applied('addons-runtimeclass-applied', 'runtimeclass-gvisor', *args) }}
{%- else %}
{{ absent('addons-runtimeclass-applied', 'runtimeclass-gvisor', *args) }}
{%- endif %}
