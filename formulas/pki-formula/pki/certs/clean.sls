{#- Keys, certificates and the CA certificate: the whole PKI directory is Vent's. #}
{%- from "pki/map.jinja" import pki with context %}
pki-certs-clean-dir-file-absent:
  file.absent:
    - name: {{ pki.dir }}
    - require:
      - sls: pki.ca.clean

include:
  - pki.ca.clean
