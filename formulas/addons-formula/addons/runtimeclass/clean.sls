{%- from "addons/map.jinja" import addons with context %}
{%- from "addons/macros.jinja" import absent with context %}
{{ absent('addons-runtimeclass-clean', 'runtimeclass-gvisor',
          'salt://addons/files/runtimeclass.yaml.jinja', addons, addons.runtimeclass.manifest_file) }}
