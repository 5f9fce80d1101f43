{%- from "controlplane/map.jinja" import cp with context %}

controlplane-scheduler-config_clean-unit-file-absent:
  file.absent:
    - name: {{ cp.dirs.systemd }}/kube-scheduler.service

controlplane-scheduler-config_clean-kube-scheduler-file-absent:
  file.absent:
    - name: {{ cp.dirs.config }}/kube-scheduler.yaml
