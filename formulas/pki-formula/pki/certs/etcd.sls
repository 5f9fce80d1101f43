{#- The etcd certificates of this node (vent_pki.certs decides which). #}
{%- from "pki/map.jinja" import pki with context %}
{%- from "pki/macros.jinja" import issue with context %}
include:
  - pki.users
  - pki.certs.ca
  - pki.certs.policies
{%- for spec in salt["vent_pki.certs"]("etcd") %}
{{ issue("pki-certs-etcd", spec, pki) }}
{%- endfor %}
