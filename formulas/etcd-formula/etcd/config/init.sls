# What etcd reads and writes on disk: its configuration and its data dir.
include:
  - etcd.config.file
  - etcd.config.data
