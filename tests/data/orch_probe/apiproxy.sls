{%- from "probe.jinja" import probe %}
{{ probe("apiproxy") }}
