{#- The CA etcd trusts, on the nodes that speak to etcd: its members and the
    controllers (the API server's etcd client). It is etcd's own, so no other
    certificate of the cluster passes as an etcd client. #}
{%- from "pki/map.jinja" import pki with context %}
{%- from "pki/macros.jinja" import ca_file with context %}
{%- if "pki.certs.etcd_ca" in salt["vent_pki.parts"]() %}
include:
  - pki.certs.ca

{{ ca_file("pki-certs-etcd-ca-crt-file-managed", "etcd-ca.crt", salt["vent_pki.etcd_ca_pem"](),
           salt["vent_pki.missing_ca_message"](etcd=True), pki) }}
{%- endif %}
