{#- The signing policies of this node's certificates, asked of the CA minion in one
    request before the certificate states, which would ask once each (about 0.6 s a
    certificate on a run that changes nothing). The CA minion signs its own and asks
    nothing. #}
{%- from "pki/map.jinja" import pki with context %}
pki-certs-policies-fetched:
  vent_pki.signing_policies_fetched:
    - name: {{ pki.ca_minion }}
    - policies: {{ salt["vent_pki.remote_policies"]() | json }}
