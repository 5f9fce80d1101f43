{%- from "node/map.jinja" import node with context %}
# conntrack and ipset for kube-proxy, socat for port-forward, kmod for modprobe.
node-package-install-pkg-installed:
  pkg.installed:
    - pkgs: {{ node.packages | json }}
