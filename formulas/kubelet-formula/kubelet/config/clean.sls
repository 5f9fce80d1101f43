{%- from "kubelet/map.jinja" import kubelet with context %}
kubelet-config-clean-file-absent:
  file.absent:
    - name: {{ kubelet.config_file }}
