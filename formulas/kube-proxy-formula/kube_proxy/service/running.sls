{%- from "kube_proxy/map.jinja" import kube_proxy with context %}
include:
  - kube_proxy.package.install
  - kube_proxy.config.file

{%- if not salt['file.file_exists'](kube_proxy.kubeconfig) %}

kube-proxy-service-running-test-fail_without_changes:
  test.fail_without_changes:
    - comment: >-
        kube-proxy needs {{ kube_proxy.kubeconfig }}, written by the PKI step; apply
        the pki formula to {{ grains['id'] }} first
{%- else %}

kube-proxy-service-running-file-managed:
  file.managed:
    - name: {{ kube_proxy.unit_dir }}/kube-proxy.service
    - source: salt://kube_proxy/files/kube-proxy.service.jinja
    - template: jinja
    - mode: '0644'
    - context:
        kube_proxy: {{ kube_proxy | json }}
  module.run:
    - service.systemctl_reload: []
    - onchanges:
      - file: kube-proxy-service-running-file-managed

kube-proxy-service-running-service-running:
  service.running:
    - name: kube-proxy
    - enable: true
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
{%- endif %}
