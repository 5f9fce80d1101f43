{#- Applied by vent.renew_certs to one controller at a time: the control plane reads
    its certificates and kubeconfigs only when it starts. The apiserver goes first so
    the other two reconnect to a server with its new serving certificate. #}
{%- set units = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] %}
{%- for unit in units %}

vent-restart-controlplane-{{ unit }}-module-run:
  module.run:
    - service.restart:
      - name: {{ unit }}
{%-   if not loop.first %}
    - require:
      - module: vent-restart-controlplane-{{ loop.previtem }}-module-run
{%-   endif %}
{%- endfor %}
