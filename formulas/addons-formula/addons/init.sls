# Cluster add-ons, applied from one controller with the admin kubeconfig.
include:
  - addons.runtimeclass.applied
  - addons.coredns.applied
