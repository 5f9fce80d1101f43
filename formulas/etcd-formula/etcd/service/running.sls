{%- from "etcd/map.jinja" import etcd with context %}
include:
  - etcd.package.install
  - etcd.config
  - etcd.service.unit

# Salt's systemd module reloads units whose files changed before (re)starting.
etcd-service-running-service-running:
  service.running:
    - name: {{ etcd.service }}
    - enable: true
    - root: /  # enabled on disk, without a daemon-reload (docs/architecture.md)
    - require:
      - sls: etcd.package.install
    - watch:
      - sls: etcd.config
      - sls: etcd.service.unit
