{%- from "apiproxy/map.jinja" import apiproxy with context %}

apiproxy-service-clean-service-dead:
  service.dead:
    - name: {{ apiproxy.service }}
    - enable: false
