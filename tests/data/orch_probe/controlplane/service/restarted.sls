{%- from "probe.jinja" import probe %}
{{ probe("restart-controlplane") }}
