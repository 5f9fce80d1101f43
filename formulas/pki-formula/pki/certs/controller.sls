{#- The controller certificates of this node (vent_pki.certs decides which). #}
{%- from "pki/map.jinja" import pki with context %}
{%- from "pki/macros.jinja" import issue, ca_file with context %}
include:
  - pki.users
  - pki.certs.ca
  - pki.certs.policies
{%- for spec in salt["vent_pki.certs"]("controller") %}
{{ issue("pki-certs-controller", spec, pki) }}
{%- endfor %}
{%- if pki.front_proxy and salt["vent_pki.roles_of"]().controller %}
{{ ca_file("pki-certs-controller-front-proxy-ca-file-managed", "front-proxy-ca.crt",
           salt["vent_pki.front_proxy_ca_pem"](),
           salt["vent_pki.missing_ca_message"](front_proxy=True), pki) }}
{%- endif %}
