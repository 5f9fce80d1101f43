controlplane-scheduler-service_clean-service-dead:
  service.dead:
    - name: kube-scheduler
    - enable: false
