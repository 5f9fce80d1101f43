include:
  - flannel.config.clean
  - flannel.package.clean
