{%- from "containerd/map.jinja" import containerd with context %}
containerd-service-clean-service-dead:
  service.dead:
    - name: containerd
    - enable: false

containerd-service-clean-file-absent:
  file.absent:
    - name: {{ containerd.unit_dir }}/containerd.service
    - require:
      - service: containerd-service-clean-service-dead
