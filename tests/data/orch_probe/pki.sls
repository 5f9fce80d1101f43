{%- from "probe.jinja" import probe %}
{{ probe("pki") }}
{#- vent.renew_certs forces renewal by raising days_remaining above days_valid. #}
{%- if salt['pillar.get']('vent:pki:days_remaining') | int > salt['pillar.get']('vent:pki:days_valid') | int %}
{{ probe("pki-forced") }}
{%- endif %}
