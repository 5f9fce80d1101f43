{#- The API answers /livez and /readyz (server verified against the CA, anonymous
    allowed on these paths only) within vent:kubernetes:ready_timeout seconds. #}
{%- from "controlplane/map.jinja" import cp with context %}
include:
  - controlplane.apiserver.service

controlplane-health-api-vent_k8s-api_healthy:
  vent_k8s.api_healthy:
    - name: {{ cp.api_url }}
    - ca_file: {{ cp.dirs.pki }}/ca.crt
    - timeout: {{ cp.ready_timeout }}
    - require:
      - sls: controlplane.apiserver.service
