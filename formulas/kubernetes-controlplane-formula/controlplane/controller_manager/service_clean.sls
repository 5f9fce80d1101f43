controlplane-controller_manager-service_clean-service-dead:
  service.dead:
    - name: kube-controller-manager
    - enable: false
