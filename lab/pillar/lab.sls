# The local lab's pillar overrides (written to pillar/site.sls by `./vent lab up` when
# that file is absent; `down` removes it only while this marker line is in it).
# vent-lab: generated
vent:
  cluster:
    # The defaults (services 100.64.0.0/13, pods 100.96.0.0/11) already avoid the lab's
    # public 198.18.0.0/24 and private 100.72.0.0/24, so they stay.
    api:
      port: 6443
  containerd:
    # Nested in an nspawn machine, runc can only use cgroupfs (no systemd cgroup
    # delegation inside the machine).
    cgroup_driver: cgroupfs
    install: package
  pki:
    key:
      # P-256 keys: made and checked in milliseconds, where each RSA-4096 key costs
      # about a second on a loaded 2-core lab host (every apply reads every key).
      algorithm: ec
      size: 256
  etcd:
    # Debian's packages are pre-installed in the lab image (offline).
    install: package
  runc:
    install: package
  cni:
    install: package
  artifacts:
    # Nothing may leave the lab: release files come only from this host directory,
    # which every lab machine sees read-only at the same path. What is absent is
    # reported by the orchestration as "not run: artifact ... missing".
    mirror: /srv/vent/artifacts
    allow_download: false
  node:
    # Lab hosts may lack br_netfilter (the reference host has none) and nspawn cannot
    # load modules. Without it bridged pod-to-pod traffic on one node bypasses
    # iptables, so kube-proxy's service routing fails for a pod reaching a service
    # backed by a pod on the same node. `./vent lab up` prints this limitation.
    modules: [overlay]
    sysctl:
      # null: not managed (the keys exist only with br_netfilter loaded).
      net.bridge.bridge-nf-call-iptables: null
      net.bridge.bridge-nf-call-ip6tables: null
