{#- This node's certificates that the CA minion signs, prepared for their states once
    the node's keys exist (each key state is required here, pki/macros.jinja): the
    signing policies of those that exist asked of the CA minion in one request (each
    state would ask for its own, about 0.6 s a certificate on a run that changes
    nothing), and those missing queued to be signed in one request (a request each,
    and a job of the CA minion each, otherwise). The CA minion signs its own and asks
    nothing. #}
{%- from "pki/map.jinja" import pki with context %}
pki-certs-signing-prepared:
  vent_pki.signing_prepared:
    - name: {{ pki.ca_minion }}
    - certificates: {{ salt["vent_pki.remotely_signed"]() | json }}
