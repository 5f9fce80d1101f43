{%- from "pki/map.jinja" import pki with context %}
pki-encryption-clean-config-file-absent:
  file.absent:
    - name: {{ pki.encryption_config }}
