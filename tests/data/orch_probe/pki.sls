{%- from "probe.jinja" import probe %}
{#- A failure ends the run, as each key and certificate of pki/macros.jinja does. #}
{{ probe("pki", failhard=true) }}
{#- vent.renew_certs forces renewal by raising days_remaining above days_valid. #}
{%- if salt['pillar.get']('vent:pki:days_remaining') | int > salt['pillar.get']('vent:pki:days_valid') | int %}
{{ probe("pki-forced") }}
{%- endif %}
