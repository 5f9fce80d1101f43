{%- from "kubelet/map.jinja" import kubelet with context %}
kubelet-package-clean-file-absent:
  file.absent:
    - name: {{ kubelet.bin_dir }}/kubelet
