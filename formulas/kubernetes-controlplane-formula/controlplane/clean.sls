{#- The reverse of init.sls. Cluster objects (the RBAC binding) go with the cluster's
    etcd data; users, certificates and kubeconfigs belong to the PKI formula. #}
include:
  - controlplane.scheduler.service_clean
  - controlplane.controller_manager.service_clean
  - controlplane.apiserver.service_clean
  - controlplane.scheduler.config_clean
  - controlplane.controller_manager.config_clean
  - controlplane.apiserver.config_clean
  - controlplane.binaries.clean
