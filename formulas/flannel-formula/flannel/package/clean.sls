{%- from "flannel/map.jinja" import flannel with context %}

flannel-package-clean-cni-plugin-file-absent:
  file.absent:
    - name: {{ flannel.cni_bin_dir }}/{{ flannel.cni_plugin_name }}
