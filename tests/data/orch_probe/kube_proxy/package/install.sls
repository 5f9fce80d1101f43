{#- Test double: the workers' step applies kube-proxy's install before the kubelet
    (vent_model.WORKERS_SLS); kube_proxy.sls records the formula's run. #}
probe-kube_proxy-package-install:
  test.nop
