{%- from "etcd/map.jinja" import etcd with context %}

etcd-service-clean-service-dead:
  service.dead:
    - name: {{ etcd.service }}
    - enable: false

etcd-service-clean-unit-file-absent:
  file.absent:
    - name: {{ etcd.unit_dir }}/{{ etcd.service }}.service
    - require:
      - service: etcd-service-clean-service-dead
