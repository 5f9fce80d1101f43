# containerd with runc (and gVisor's runsc when vent:gvisor:enabled), configured for
# kubelet's CRI, plus crictl to talk to it.
include:
  - containerd.package.install
  - containerd.runc.install
  - containerd.gvisor.install
  - containerd.crictl.install
  - containerd.config.file
  - containerd.service.running
