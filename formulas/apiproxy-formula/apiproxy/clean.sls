include:
  - apiproxy.service.clean
  - apiproxy.config.clean
  - apiproxy.package.clean
