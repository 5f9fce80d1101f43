{%- from "kube_proxy/map.jinja" import kube_proxy with context %}
kube-proxy-service-clean-service-dead:
  service.dead:
    - name: kube-proxy
    - enable: false

kube-proxy-service-clean-file-absent:
  file.absent:
    - name: {{ kube_proxy.unit_dir }}/kube-proxy.service
    - require:
      - service: kube-proxy-service-clean-service-dead
