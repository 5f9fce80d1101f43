{%- from "probe.jinja" import probe %}
{#- A failure ends the run, as etcd.health does. #}
{{ probe("etcd", failhard=true) }}
