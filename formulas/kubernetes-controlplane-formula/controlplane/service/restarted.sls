{#- Applied by vent.renew_certs to one controller at a time: the control plane reads
    its certificates and kubeconfigs only when it starts. The apiserver goes first so
    the other two reconnect to a server with its new serving certificate; the
    orchestration then applies controlplane.health. #}
{%- from "controlplane/map.jinja" import cp with context %}
{%- set units = salt['vent_cluster.units']('controller') %}
{%- for unit in units %}

controlplane-service-restarted-{{ unit }}-module-run:
  module.run:
    - service.restart:
      - name: {{ unit }}
{%-   if not loop.first %}
    - require:
      - module: controlplane-service-restarted-{{ loop.previtem }}-module-run
{%-   endif %}
{%- endfor %}
