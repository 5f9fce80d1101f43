include:
  - addons.coredns.clean
  - addons.runtimeclass.clean
