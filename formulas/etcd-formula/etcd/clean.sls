# The reverse of init.sls. The data dir goes only with vent:etcd:purge_data.
include:
  - etcd.service.clean
  - etcd.config.clean
  - etcd.package.clean
