{#- A changed backend list (a controller added or removed) reloads haproxy: existing
    connections drain, no kubelet restarts. #}
{%- from "apiproxy/map.jinja" import apiproxy with context %}
include:
  - apiproxy.config.file

apiproxy-service-running-service-running:
  service.running:
    - name: {{ apiproxy.service }}
    - enable: true
    - reload: true
    - watch:
      - sls: apiproxy.config.file
