# Cluster add-ons, applied from one controller with the admin kubeconfig.
include:
  - addons.network_policy.check
  - addons.runtimeclass.applied
  - addons.coredns.applied
