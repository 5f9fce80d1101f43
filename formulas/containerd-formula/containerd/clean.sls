include:
  - containerd.service.clean
  - containerd.config.clean
  - containerd.crictl.clean
  - containerd.gvisor.clean
  - containerd.runc.clean
  - containerd.package.clean
