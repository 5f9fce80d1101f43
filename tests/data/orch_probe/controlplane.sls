{%- from "probe.jinja" import probe %}
{{ probe("controlplane") }}
