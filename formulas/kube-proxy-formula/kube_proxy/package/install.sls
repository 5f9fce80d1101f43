{%- from "kube_proxy/map.jinja" import kube_proxy with context %}
kube-proxy-package-install-kube-proxy-vent_artifact-installed:
  vent_artifact.installed:
    - component: kubernetes
    - file: kube-proxy
    - bin_dir: {{ kube_proxy.bin_dir }}
    - failhard: true
