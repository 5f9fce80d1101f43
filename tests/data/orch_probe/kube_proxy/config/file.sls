{#- Test double: the workers' step applies kube-proxy's config before the kubelet
    (vent_model.WORKERS_SLS); kube_proxy.sls records the formula's run. #}
probe-kube_proxy-config-file:
  test.nop
