{#- Test double for controlplane.nodes.uncordon: records "uncordon-<node> <minion>" per node. #}
{%- from "probe.jinja" import probe %}
{%- for node in salt['pillar.get']('vent_day2:nodes', []) %}
{{ probe("uncordon-" ~ node) }}
{%- endfor %}
