{#- The end of a node's container runtime in a step that applies its kubelet and
    kube-proxy after it (vent_model.FOLLOWS): a runtime formula that failed ends the
    node's run here, as the runtime's own step ended before the workers' step. #}
vent-node-runtime-ready-test-succeed_without_changes:
  test.succeed_without_changes:
    - name: the node's container runtime is in place
    - failhard: true
    - require:
      - sls: node
      - sls: containerd
      - sls: cni
      - sls: flannel
