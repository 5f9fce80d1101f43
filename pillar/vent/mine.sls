# Each node publishes its identity; consumers (etcd initial cluster, certificate
# SANs, kubeconfig endpoints, status) read it from the mine instead of a list.
mine_functions:
  vent_node:
    - mine_function: vent_cluster.node_info
