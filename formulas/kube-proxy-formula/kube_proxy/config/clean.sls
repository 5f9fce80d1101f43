{%- from "kube_proxy/map.jinja" import kube_proxy with context %}
kube-proxy-config-clean-file-absent:
  file.absent:
    - name: {{ kube_proxy.config_file }}
