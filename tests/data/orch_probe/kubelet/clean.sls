{%- from "probe.jinja" import probe %}
{{ probe("clean-kubelet") }}
