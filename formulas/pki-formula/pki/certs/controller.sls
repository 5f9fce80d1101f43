{#- The controller certificates of this node (vent_pki.certs decides which). #}
{%- from "pki/map.jinja" import pki with context %}
{%- from "pki/macros.jinja" import issue with context %}
include:
  - pki.users
  - pki.certs.ca
{%- for spec in salt["vent_pki.certs"]("controller") %}
{{ issue("pki-certs-controller", spec, pki) }}
{%- endfor %}
{%- if pki.front_proxy and salt["vent_pki.roles_of"]().controller %}
{%- set fp_pem = salt["vent_pki.front_proxy_ca_pem"]() %}

pki-certs-controller-front-proxy-ca-file-managed:
{%- if fp_pem %}
  file.managed:
    - name: {{ pki.dir }}/front-proxy-ca.crt
    - contents: {{ fp_pem | json }}
    - mode: "{{ pki.cert_mode }}"
    - require:
      - sls: pki.certs.ca
{%- else %}
  test.fail_without_changes:
    - name: vent-pki
    - comment: {{ salt["vent_pki.missing_ca_message"](front_proxy=True) | json }}
{%- endif %}
{%- endif %}
