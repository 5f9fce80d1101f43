{%- from "probe.jinja" import probe %}
{{ probe("flannel-manifest") }}
