{%- from "kubelet/map.jinja" import kubelet with context %}
kubelet-service-clean-service-dead:
  service.dead:
    - name: kubelet
    - enable: false

kubelet-service-clean-file-absent:
  file.absent:
    - name: {{ kubelet.unit_dir }}/kubelet.service
    - require:
      - service: kubelet-service-clean-service-dead
