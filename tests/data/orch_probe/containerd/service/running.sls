{%- from "probe.jinja" import probe %}
{{ probe("containerd-runtime") }}
