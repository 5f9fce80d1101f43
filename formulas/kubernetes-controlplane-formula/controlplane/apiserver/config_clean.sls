{%- from "controlplane/map.jinja" import cp with context %}

controlplane-apiserver-config_clean-unit-file-absent:
  file.absent:
    - name: {{ cp.dirs.systemd }}/kube-apiserver.service

controlplane-apiserver-config_clean-audit-policy-file-absent:
  file.absent:
    - name: {{ cp.dirs.config }}/audit-policy.yaml

controlplane-apiserver-config_clean-authentication-config-file-absent:
  file.absent:
    - name: {{ cp.dirs.config }}/authentication-config.yaml
