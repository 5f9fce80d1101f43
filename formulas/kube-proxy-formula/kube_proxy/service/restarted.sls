{#- Applied by vent.renew_certs with kubelet.service.restarted: kube-proxy loads its
    client certificate when it starts. #}

kube-proxy-service-restarted-module-run:
  module.run:
    - service.restart:
      - name: kube-proxy
