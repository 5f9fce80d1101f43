{%- from "flannel/map.jinja" import flannel with context %}

flannel-guard-clean-service-dead:
  service.dead:
    - name: vent-vxlan-guard
    - enable: false

flannel-guard-clean-unit-file-absent:
  file.absent:
    - name: {{ flannel.unit_dir }}/vent-vxlan-guard.service
    - require:
      - service: flannel-guard-clean-service-dead
