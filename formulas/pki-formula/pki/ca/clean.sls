{%- from "pki/map.jinja" import pki with context %}
pki-ca-clean-dir-file-absent:
  file.absent:
    - name: {{ pki.dir }}/ca
