{%- from "probe.jinja" import probe %}
{{ probe("readyz") }}
