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
  etcd:
    # Debian's packages are pre-installed in the lab image (offline).
    install: package
  runc:
    install: package
  cni:
    install: package
