{%- from "probe.jinja" import probe %}
{{ probe("rbac") }}
