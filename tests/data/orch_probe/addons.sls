{%- from "probe.jinja" import probe %}
{{ probe("addons") }}
