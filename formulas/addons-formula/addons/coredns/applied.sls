{%- from "addons/map.jinja" import addons with context %}
{%- from "addons/macros.jinja" import applied with context %}
{{ applied('addons-coredns-applied', 'coredns', 'salt://addons/files/coredns.yaml.jinja',
           addons, addons.coredns.manifest_file) }}
