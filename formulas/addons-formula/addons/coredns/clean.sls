{%- from "addons/map.jinja" import addons with context %}
{%- from "addons/macros.jinja" import absent with context %}
{{ absent('addons-coredns-clean', 'coredns', 'salt://addons/files/coredns.yaml.jinja',
          addons, addons.coredns.manifest_file) }}
