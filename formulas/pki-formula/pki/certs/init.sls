{#- This node's certificates: the parts of pki.certs that apply to it (vent_pki.parts). #}
include:
{%- for part in salt["vent_pki.parts"]() if part.startswith("pki.certs.") %}
  - {{ part }}
{%- endfor %}
