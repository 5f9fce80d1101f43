# etcd as a TLS-only cluster member: binaries, configuration, running service.
include:
  - etcd.package.install
  - etcd.config
  - etcd.service.running
