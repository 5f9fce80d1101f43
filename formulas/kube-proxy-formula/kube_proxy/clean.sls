include:
  - kube_proxy.service.clean
  - kube_proxy.config.clean
  - kube_proxy.package.clean
