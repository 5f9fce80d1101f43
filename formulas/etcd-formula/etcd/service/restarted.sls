{#- Applied by vent.renew_certs to one etcd member at a time: etcd reads its
    certificates only when it starts. The orchestration checks cluster health before
    the next member. #}
{%- from "etcd/map.jinja" import etcd with context %}

etcd-service-restarted-module-run:
  module.run:
    - service.restart:
      - name: {{ etcd.service }}
