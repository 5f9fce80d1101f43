# The local lab's pillar overrides. `./vent lab up` writes pillar/site.sls from this
# file, adding what it generates (the checksums and image digests of the locally built
# release files, the registry mirror); `down` removes that file only while this marker
# line is in it.
# vent-lab: generated
vent:
  containerd:
    # Nested in an nspawn machine, runc uses cgroupfs: the machine's systemd cannot
    # delegate cgroups to containerd's systemd driver there.
    cgroup_driver: cgroupfs
  kubernetes:
    kube_proxy_config:
      conntrack:
        # The conntrack table size is the host kernel's (a container cannot set
        # net.netfilter.nf_conntrack_max); 0 leaves it as it is.
        maxPerCore: 0
  coredns:
    # The lab has no upstream DNS (its machines' resolv.conf is empty): CoreDNS
    # answers cluster names only.
    forward: null
  pki:
    key:
      # P-256 keys: made and checked in milliseconds, where each RSA-4096 key costs
      # about a second on a loaded 2-core lab host (every apply reads every key).
      algorithm: ec
      size: 256
  artifacts:
    # Nothing may leave the lab: release files come only from the mirror (built from
    # the Go modules by `./vent artifacts build`), which every lab machine sees
    # read-only at the same path; images from the lab's registry. The defaults'
    # service and cluster CIDRs already avoid the lab's networks, so they stay.
    allow_download: false
