{%- from "probe.jinja" import probe %}
{{ probe("clean-kube_proxy") }}
