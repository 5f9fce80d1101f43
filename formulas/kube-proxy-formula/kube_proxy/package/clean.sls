{%- from "kube_proxy/map.jinja" import kube_proxy with context %}
{%- set binary = kube_proxy.bin_dir ~ '/kube-proxy' %}
{#- A stopped kube-proxy leaves its KUBE-* chains and rules (iptables, ipvs, nftables)
    in the kernel; only its own --cleanup knows them all, so it runs while the binary
    is still here (kube_proxy.clean stops the service first). #}
kube-proxy-package-clean-cmd-run:
  cmd.run:
    - name: {{ binary }} --cleanup
    - onlyif: test -x {{ binary }}

kube-proxy-package-clean-file-absent:
  file.absent:
    - name: {{ binary }}
