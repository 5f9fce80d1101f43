{#- kubelet.service.restarted records the compute restart; this one is applied with it. #}
probe-restart-kube-proxy-nop:
  test.nop
