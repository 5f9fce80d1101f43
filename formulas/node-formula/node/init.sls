# Prepares a host for kubelet: tools, kernel modules, sysctls, no swap, a synced clock.
include:
  - node.package.install
  - node.modules.load
  - node.sysctl.file
  - node.swap.off
  - node.timesync.running
