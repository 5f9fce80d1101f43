{%- from "probe.jinja" import probe %}
{{ probe("clean-apiproxy") }}
