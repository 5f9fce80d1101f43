{%- from "kube_proxy/map.jinja" import kube_proxy with context %}
kube-proxy-package-clean-file-absent:
  file.absent:
    - name: {{ kube_proxy.bin_dir }}/kube-proxy
