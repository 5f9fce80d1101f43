{#- The CA etcd trusts, on the nodes that speak to etcd: its members and the
    controllers (the API server's etcd client). It is etcd's own, so no other
    certificate of the cluster passes as an etcd client. #}
{%- from "pki/map.jinja" import pki with context %}
{%- set roles = salt["vent_pki.roles_of"]() %}
{%- if roles.etcd or roles.controller %}
{%- set etcd_ca_pem = salt["vent_pki.etcd_ca_pem"]() %}
include:
  - pki.certs.ca

pki-certs-etcd-ca-crt-file-managed:
{%- if etcd_ca_pem %}
  file.managed:
    - name: {{ pki.dir }}/etcd-ca.crt
    - contents: {{ etcd_ca_pem | json }}
    - user: root
    - group: root
    - mode: "{{ pki.cert_mode }}"
    - require:
      - sls: pki.certs.ca
{%- else %}
  test.fail_without_changes:
    - name: vent-pki
    - comment: {{ salt["vent_pki.missing_ca_message"](etcd=True) | json }}
{%- endif %}
{%- endif %}
