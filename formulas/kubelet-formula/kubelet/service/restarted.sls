{#- Applied by vent.renew_certs to kubelet nodes in batches: the kubelet loads its
    client and serving certificates when it starts. The next batch waits until this
    one's kubelets answer /healthz again. #}
{%- from "kubelet/map.jinja" import kubelet with context %}

kubelet-service-restarted-module-run:
  module.run:
    - service.restart:
      - name: kubelet

kubelet-service-restarted-http-wait_for_successful_query:
  http.wait_for_successful_query:
    - name: http://127.0.0.1:{{ kubelet.healthz_port }}/healthz
    - match: ok
    - status: 200
    - wait_for: {{ kubelet.ready_timeout }}
    - request_interval: 0.5
    - require:
      - module: kubelet-service-restarted-module-run
