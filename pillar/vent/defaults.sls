# Every Vent setting with its default. Override in pillar/site.sls (see
# site.sls.example); never edit values here for one site. Derived values (DNS IP,
# first service IP, etcd initial cluster) are computed by the `vent` execution
# module from these keys, never written twice.
vent:
  cluster:
    name: vent
    domain: cluster.local
    # Defaults outside Packet's 10.0.0.0/8 private range (kops' precedent).
    cluster_cidr: 100.96.0.0/11
    service_cidr: 100.64.0.0/13
    # null: the 10th address of service_cidr.
    dns_ip: null
    node_cidr_mask: 24
    # Permit cluster/service CIDRs inside 10.0.0.0/8 (collides with Packet's private
    # addresses); only for sites whose nodes are not on Packet.
    allow_10_8: false
    api:
      port: 6443
      # Extra names or IPs for the API certificate (a load balancer, a DNS name).
      extra_names: []
      # The address kubeconfigs for operators point at; null: first controller's
      # public IP from the mine.
      endpoint: null

  roles:
    # Controllers also run the worker stack and accept pods.
    controllers_schedulable: false

  network:
    # How a node finds its private address when grains carry none: the interface
    # name or a regex over interface names. null: the grain vent:private_ip.
    private_interface: null
    private_interface_regex: null

  pki:
    # The minion that holds the CA key (given to it alone by pillar/secrets/ca.sls)
    # and signs every certificate remotely.
    ca_minion: controller-0
    key:
      # rsa or ec
      algorithm: rsa
      # 2048 or 4096 for rsa; 256 (P-256) for ec.
      size: 4096
    days_valid: 365
    # A certificate this close to expiry is re-issued on the next apply.
    days_remaining: 30
    ca_days_valid: 3650
    # Group of the `developer` user; system:masters mirrors the original project.
    developer_group: system:masters
    front_proxy: false
    dir: /etc/vent/pki
    # Kubeconfigs of the node's components (kubelet, kube-proxy, control plane).
    kubeconfig_dir: /etc/vent/kubeconfig

  encryption:
    # aescbc or secretbox; the key (32 bytes, base64) comes from
    # pillar/secrets/encryption.sls (salt-run vent.encryption_key_init).
    provider: aescbc
    key: null
    # Read by kube-apiserver; holds the key, hence 0600.
    config_file: /etc/vent/encryption-config.yaml

  etcd:
    # package: Debian's etcd-server; release: the pinned upstream tarball.
    install: release
    client_port: 2379
    peer_port: 2380
    data_dir: /var/lib/etcd
    # Holds etcd.conf.yml, the one file the unit passes to etcd.
    config_dir: /etc/etcd
    health_timeout: 60
    # clean.sls removes the data dir only when this is true.
    purge_data: false

  kubernetes:
    # Extra or overriding flags per component: {flag: value}; value null drops it.
    apiserver_flags: {}
    controller_manager_flags: {}
    scheduler_flags: {}
    kubelet_config: {}
    # Fields of the KubeProxyConfiguration that replace Vent's (same merge rule).
    kube_proxy_config: {}
    kube_proxy_mode: iptables
    ready_timeout: 120
    # kube-controller-manager's own rate limit on its API requests. Its defaults (20
    # a second, bursts of 30) held a fresh cluster's controllers back some 5 s while
    # it made each controller's service account and token (--use-service-account-
    # credentials), so DaemonSet pods and node CIDRs came that much later; the API's
    # priority and fairness still guards the API server.
    controller_manager_api:
      qps: 100
      burst: 200
    audit:
      max_age_days: 7
      max_backups: 5
      max_size_mb: 100
    # Where the control plane's binaries, configs (audit policy, authentication,
    # scheduler) and units go; tests point them at temporary directories.
    dirs:
      bin: /usr/local/bin
      config: /etc/vent/kubernetes
      systemd: /etc/systemd/system

  containerd:
    install: release
    # systemd on real hosts; the lab's nested containers use cgroupfs.
    cgroup_driver: systemd
    # {registry host: [mirror endpoint, ...]}
    registry_mirrors: {}
    # Keep containers' OOM score adjustments at or above containerd's own: for hosts
    # where nothing may lower an OOM score (no CAP_SYS_RESOURCE), where a critical pod's
    # negative score would otherwise fail its start.
    restrict_oom_score_adj: false
    # Drop an image's compressed layers from the content store once they are unpacked
    # into snapshots (kubespray's and Talos' default): the node keeps each layer once,
    # on disk and in its page cache. Such an image cannot be exported or pushed from
    # the node. containerd 2.x pulls for the CRI without its transfer service then,
    # and says so in its log when it starts.
    discard_unpacked_layers: true
    # Paths are knobs so tests (and unusual hosts) can render elsewhere.
    config_dir: /etc/containerd
    root_dir: /var/lib/containerd
    state_dir: /run/containerd

  runc:
    install: release

  cni:
    install: release
    bin_dir: /opt/cni/bin
    conf_dir: /etc/cni/net.d
    # Configs other packages drop into conf_dir that would win over flannel's (the
    # lowest-sorting file is the one used); removed by name, so an operator's own
    # CNI configs are never touched.
    remove_configs:
      - 10-containerd-net.conflist
      - 87-podman-bridge.conflist
      - 87-podman.conflist

  node:
    # Kernel modules every kubelet node needs; ipvs modules are added when
    # vent:kubernetes:kube_proxy_mode is ipvs.
    modules: [overlay, br_netfilter]
    sysctl:
      net.bridge.bridge-nf-call-iptables: 1
      net.bridge.bridge-nf-call-ip6tables: 1
      net.ipv4.ip_forward: 1
    modules_load_dir: /etc/modules-load.d
    sysctl_dir: /etc/sysctl.d
    # kubelet refuses to start with swap on unless configured for it.
    swap_off: true
    # timesyncd or chrony; certificates and etcd need agreeing clocks.
    time_sync: timesyncd

  apiproxy:
    # The node-local API proxy (apiproxy formula) asks each controller's /readyz this
    # often, and takes it out of (fall) or back into (rise) rotation after so many
    # answers.
    check_interval: 2s
    # A controller out of rotation, or between its fall/rise answers, is asked this
    # often instead: it rejoins within about rise x this of its /readyz passing. Left at
    # check_interval, a fresh deploy's API joined up to 4 s late, and each kubelet that
    # had found it down retried its registration only 3 to 7 s later (its own backoff).
    recheck_interval: 500ms
    fall: 2
    rise: 2

  kubelet:
    config_dir: /var/lib/kubelet
    # The kubelet API (logs, exec, port-forward), on the node's private address.
    port: 10250
    # Plain-HTTP health, on loopback only.
    healthz_port: 10248

  kube_proxy:
    config_dir: /var/lib/kube-proxy
    # /healthz on the node's private address (where Salt waits for it; never the
    # public one), metrics on loopback only.
    healthz_port: 10256
    metrics_port: 10249

  gvisor:
    enabled: true

  flannel:
    backend: vxlan
    vxlan_port: 8472
    # flanneld's /readyz, on the node's loopback only: ready once it has written the
    # subnet file that pods' networks are made from, which the kubelet waits for
    # before it counts the flannel pod as started.
    healthz_port: 10262
    # null: choose the interface carrying the node's private IP.
    iface: null
    iface_regex: null

  coredns:
    replicas: 2
    # Where CoreDNS sends names outside the cluster: the node's resolver, as upstream,
    # or nameserver addresses; null answers cluster names only.
    forward: /etc/resolv.conf

  addons:
    # The controller keeps the rendered cluster manifests (flannel, CoreDNS, the gVisor
    # RuntimeClass) here, so an operator can read or diff what Salt applied.
    manifest_dir: /etc/vent/addons

  network_policy:
    # none: flannel alone enforces no NetworkPolicy. See README.
    provider: none

  artifacts:
    # Local directory holding release artifacts under their upstream file names;
    # filled by `./vent artifacts fetch` on a machine with internet access.
    mirror: /srv/vent/artifacts
    # Fetch from upstream URLs when the mirror lacks an artifact.
    allow_download: true
    # Release archives are unpacked here on a node, one directory per component and
    # version, and the binaries linked into place.
    unpack_root: /opt/vent

  orchestrate:
    # How many kubelet nodes a step converges at once; null: all in parallel. Day-2
    # procedures that restart or drain nodes (renew_certs, upgrade) use it too.
    worker_batch: null
    # Name of the last phase to run (vent_model.PHASES); null runs all.
    stop_after: null
