{#- The local API answers /livez and /readyz (server verified against the CA,
    anonymous allowed on these paths only) within vent:kubernetes:ready_timeout
    seconds: the one readiness check of the API, applied by the deploy after the
    API server starts and by the day-2 orchestrations after a restart. #}
{%- from "controlplane/map.jinja" import cp with context %}

controlplane-health-api-vent_k8s-api_healthy:
  vent_k8s.api_healthy:
    - name: {{ cp.api_url }}
    - ca_file: {{ cp.dirs.ca_cert }}
    - timeout: {{ cp.ready_timeout }}
