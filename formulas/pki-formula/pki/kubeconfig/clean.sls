{%- from "pki/map.jinja" import pki with context %}
pki-kubeconfig-clean-dir-file-absent:
  file.absent:
    - name: {{ pki.kubeconfig_dir }}
