{%- from "probe.jinja" import probe %}
{{ probe("etcd") }}
