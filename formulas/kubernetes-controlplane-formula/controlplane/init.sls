{#- Binaries first: a missing artifact stops the run (failhard) before anything else
    is written. Then configs and units, the API and its health, the other two
    components, and post-start RBAC. #}
include:
  - controlplane.binaries.install
  - controlplane.apiserver.config
  - controlplane.controller_manager.config
  - controlplane.scheduler.config
  - controlplane.apiserver.service
  - controlplane.health
  - controlplane.controller_manager.service
  - controlplane.scheduler.service
  - controlplane.rbac
