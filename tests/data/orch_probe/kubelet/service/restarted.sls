{%- from "probe.jinja" import probe %}
{{ probe("restart-compute") }}
