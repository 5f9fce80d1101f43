{#- Applied on the CA controller by vent.upgrade before a batch of nodes is upgraded:
    no new pods land there and the running ones move (DaemonSets stay, they run
    everywhere). Bounded by vent:kubernetes:ready_timeout. #}
{%- from "controlplane/nodes/map.jinja" import kubectl, hostnames, timeout with context %}
{%- for host in hostnames %}

controlplane-nodes-drain-{{ host }}-cmd-run:
  cmd.run:
    - name: >-
        {{ kubectl }} drain {{ host }} --ignore-daemonsets --delete-emptydir-data
        --timeout={{ timeout }}s
    - timeout: {{ timeout + 30 }}
{%- endfor %}
