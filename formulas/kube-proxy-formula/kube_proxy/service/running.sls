{%- from "kube_proxy/map.jinja" import kube_proxy with context %}
include:
  - kube_proxy.package.install
  - kube_proxy.config.file

{#- The PKI formula writes it (earlier in the same run, or a run before). #}
kube-proxy-service-running-vent_pki-files_written:
  vent_pki.files_written:
    - name: kube-proxy
    - paths: {{ [kube_proxy.kubeconfig] | json }}

kube-proxy-service-running-file-managed:
  file.managed:
    - name: {{ kube_proxy.unit_dir }}/kube-proxy.service
    - source: salt://kube_proxy/files/kube-proxy.service.jinja
    - template: jinja
    - mode: '0644'
    - context:
        kube_proxy: {{ kube_proxy | json }}
    - require:
      - vent_pki: kube-proxy-service-running-vent_pki-files_written

{#- No daemon-reload of its own: service.running reloads systemd when systemd reports
    the unit changed on disk, and a new unit is loaded when it is started (each reload
    is 0.1 s of a node's CPU). containerd's formula reloads itself: its unit shadows
    Debian's, which systemd would not report. #}
kube-proxy-service-running-service-running:
  service.running:
    - name: kube-proxy
    - enable: true
    - root: /  # enabled on disk, without a daemon-reload (docs/architecture.md)
    - watch:
      - file: kube-proxy-service-running-file-managed
      - sls: kube_proxy.package.install
      - sls: kube_proxy.config.file

kube-proxy-service-running-http-wait_for_successful_query:
  http.wait_for_successful_query:
    - name: http://{{ kube_proxy.node_ip }}:{{ kube_proxy.healthz_port }}/healthz
    - status: 200
    - wait_for: {{ kube_proxy.ready_timeout }}
    - request_interval: 0.5
    - require:
      - service: kube-proxy-service-running-service-running
