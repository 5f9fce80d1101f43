{%- from "flannel/map.jinja" import flannel with context %}

flannel-config-clean-conflist-file-absent:
  file.absent:
    - name: {{ flannel.cni_conf_dir }}/{{ flannel.cni_conflist }}
