{%- from "probe.jinja" import probe %}
{{ probe("node") }}
