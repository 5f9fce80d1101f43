{%- from "probe.jinja" import probe %}
{{ probe("kube_proxy") }}
