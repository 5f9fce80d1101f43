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
    # Enabled on disk (systemctl --root): systemd needs no daemon-reload, 0.1 s of
    # the node's CPU each, to learn that a unit it already runs starts at boot.
    - root: /
    - require:
      - sls: etcd.package.install
    - watch:
      - sls: etcd.config
      - sls: etcd.service.unit
