include:
  - node.timesync.clean
  - node.sysctl.clean
  - node.modules.clean
  - node.package.clean
