{%- from "kubelet/map.jinja" import kubelet with context %}
kubelet-package-install-kubelet-vent_artifact-installed:
  vent_artifact.installed:
    - component: kubernetes
    - file: kubelet
    - bin_dir: {{ kubelet.bin_dir }}
    - failhard: true
