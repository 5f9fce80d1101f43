{#- Applied by vent.renew_certs to kubelet nodes in batches: kubelet and kube-proxy
    load their client and serving certificates when they start. The next batch waits
    until this one's kubelets answer /healthz again. #}
{%- from "kubelet/map.jinja" import kubelet with context %}
{%- for unit in ['kubelet', 'kube-proxy'] %}

vent-restart-compute-{{ unit }}-module-run:
  module.run:
    - service.restart:
      - name: {{ unit }}
{%- endfor %}

vent-restart-compute-kubelet-http-wait_for_successful_query:
  http.wait_for_successful_query:
    - name: http://127.0.0.1:{{ kubelet.healthz_port }}/healthz
    - match: ok
    - status: 200
    - wait_for: {{ kubelet.ready_timeout }}
    - request_interval: 2
    - require:
      - module: vent-restart-compute-kubelet-module-run
