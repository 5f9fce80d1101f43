include:
  - kubelet.service.clean
  - kubelet.config.clean
  - kubelet.package.clean
