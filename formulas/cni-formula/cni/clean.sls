include:
  - cni.package.clean
