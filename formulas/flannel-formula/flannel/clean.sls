include:
  - flannel.guard.clean
  - flannel.config.clean
  - flannel.package.clean
