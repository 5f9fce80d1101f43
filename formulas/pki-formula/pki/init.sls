{#- Everything this node needs from the PKI: the parts that apply to it, by its roles in
    the mine (vent_pki.parts); pki.certs includes its own. #}
include:
{%- for part in salt["vent_pki.parts"]() if part.count(".") == 1 %}
  - {{ part }}
{%- endfor %}
