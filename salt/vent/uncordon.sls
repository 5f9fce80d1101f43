{#- Applied on the CA controller by vent.upgrade after a batch of nodes was upgraded
    and their kubelets answered /healthz: they take pods again. #}
{%- from "vent/kubectl.jinja" import kubectl, hostnames with context %}
{%- for host in hostnames %}

vent-uncordon-{{ host }}-cmd-run:
  cmd.run:
    - name: {{ kubectl }} uncordon {{ host }}
    - onlyif: {{ kubectl }} get node {{ host }} -o jsonpath='{.spec.unschedulable}' | grep -qx true
{%- endfor %}
