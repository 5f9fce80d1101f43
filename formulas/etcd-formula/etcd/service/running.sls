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
    - require:
      - sls: etcd.package.install
    - watch:
      - sls: etcd.config
      - sls: etcd.service.unit

# After a start or restart, wait (bounded by vent:etcd:health_timeout) until every
# member answers over TLS; the error names the members still failing.
etcd-service-running-health-module-run:
  module.run:
    - vent_etcd.wait_healthy:
      - timeout: {{ etcd.health_timeout }}
    - onchanges:
      - service: etcd-service-running-service-running
