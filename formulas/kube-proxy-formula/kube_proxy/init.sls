# kube-proxy from the pinned release, configured by a KubeProxyConfiguration file.
include:
  - kube_proxy.package.install
  - kube_proxy.config.file
  - kube_proxy.service.running
