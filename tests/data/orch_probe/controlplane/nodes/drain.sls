{#- Test double for controlplane.nodes.drain: records "drain-<node> <minion>" per node. #}
{%- from "probe.jinja" import probe %}
{%- for node in salt['pillar.get']('vent_day2:nodes', []) %}
{{ probe("drain-" ~ node) }}
{%- endfor %}
