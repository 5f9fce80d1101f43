{%- from "probe.jinja" import probe %}
{{ probe("pki-ca") }}
