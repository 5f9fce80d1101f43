{%- from "probe.jinja" import probe %}
{{ probe("kubelet") }}
