{%- from "node/map.jinja" import node with context %}
# conntrack and ipset for kube-proxy, socat for port-forward, kmod for modprobe;
# iptables for kube-proxy and flannel's VXLAN guard (Priority: optional on Debian, so a
# minimal server may lack it), nft for kube-proxy's nftables mode.
node-package-install-pkg-installed:
  pkg.installed:
    - pkgs: {{ node.packages | json }}
