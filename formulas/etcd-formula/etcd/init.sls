# etcd as a TLS-only cluster member: binaries, configuration, running service, cluster health.
include:
  - etcd.package.install
  - etcd.config
  - etcd.service.running
  - etcd.health
