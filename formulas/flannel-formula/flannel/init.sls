# The node side of flannel, on every node that runs a kubelet; flannel.cluster applies
# the DaemonSet once, from a controller.
include:
  - flannel.package.install
  - flannel.config.file
  - flannel.guard.running
