{#- Everything this node needs from the PKI, chosen by its roles in the mine. #}
include:
{%- if salt["vent_pki.is_ca"]() %}
  - pki.ca
{%- endif %}
  - pki.users
  - pki.certs
  - pki.kubeconfig
  - pki.encryption
