{#- Every member answers over TLS within vent:etcd:health_timeout seconds: after a
    (re)start this waits for the cluster to form (every member of a new cluster starts
    in the same run), and on a converged cluster it is the check the control plane
    relies on, made inside the etcd run rather than as a job of its own. A failure ends
    the node's run (failhard): the orchestration applies the control plane after it in
    the same run (vent_model.JOINED), and nothing there may start without etcd. #}
{%- from "etcd/map.jinja" import etcd with context %}
include:
  - etcd.service.running

etcd-health-vent_etcd-healthy:
  vent_etcd.healthy:
    - name: etcd cluster
    - timeout: {{ etcd.health_timeout }}
    - failhard: true
    - require:
      - service: etcd-service-running-service-running
