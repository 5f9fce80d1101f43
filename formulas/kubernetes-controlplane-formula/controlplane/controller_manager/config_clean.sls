{%- from "controlplane/map.jinja" import cp with context %}

controlplane-controller_manager-config_clean-unit-file-absent:
  file.absent:
    - name: {{ cp.dirs.systemd }}/kube-controller-manager.service
