{#- Applied on the CA controller by vent.upgrade after a batch of nodes was upgraded
    and their kubelets answered /healthz: they take pods again. #}
{%- from "controlplane/nodes/map.jinja" import kubectl, hostnames with context %}
{%- for host in hostnames %}

controlplane-nodes-uncordon-{{ host }}-cmd-run:
  cmd.run:
    - name: {{ kubectl }} uncordon {{ host }}
    - onlyif: {{ kubectl }} get node {{ host }} -o jsonpath='{.spec.unschedulable}' | grep -qx true
{%- endfor %}
