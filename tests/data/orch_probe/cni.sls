{%- from "probe.jinja" import probe %}
{{ probe("cni") }}
