{#- The API for the kubelet and kube-proxy of a node that runs no API server: a local
    TCP load balancer over every controller, health-checked on /readyz, so losing a
    controller loses no node. Controllers talk to their own API server instead. #}
{%- from "apiproxy/map.jinja" import apiproxy with context %}
{%- if apiproxy.wanted %}
include:
  - apiproxy.package.install
  - apiproxy.config.file
  - apiproxy.service.running
{%- else %}
apiproxy-init-test-nop:
  test.nop:
    - name: a controller reaches its own API server; no proxy here
{%- endif %}
