controlplane-apiserver-service_clean-service-dead:
  service.dead:
    - name: kube-apiserver
    - enable: false
