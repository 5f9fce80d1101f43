# kubelet from the pinned release, configured by a KubeletConfiguration file.
include:
  - kubelet.package.install
  - kubelet.config.file
  - kubelet.service.running
