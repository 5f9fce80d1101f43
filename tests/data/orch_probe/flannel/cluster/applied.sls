{%- from "probe.jinja" import probe %}
{#- A failure ends the run, as flannel.cluster.applied does. #}
{{ probe("flannel-cluster", failhard=true) }}
