{#- Applied on controllers by the vent orchestration after the control plane: waits
    (bounded by vent:kubernetes:ready_timeout) until the local apiserver answers
    /readyz. Any client certificate the CA signed may read /readyz; the apiserver's
    kubelet-client pair is one every controller has. #}
{%- set pki_dir = salt['pillar.get']('vent:pki:dir', '/etc/vent/pki') %}
{%- set port = salt['pillar.get']('vent:cluster:api:port', 6443) %}

vent-readyz-apiserver-http-wait_for_successful_query:
  http.wait_for_successful_query:
    - name: https://127.0.0.1:{{ port }}/readyz
    - status: 200
    - wait_for: {{ salt['pillar.get']('vent:kubernetes:ready_timeout', 120) }}
    - request_interval: 2
    - ca_bundle: {{ pki_dir }}/ca.crt
    - cert:
      - {{ pki_dir }}/apiserver-kubelet-client.crt
      - {{ pki_dir }}/apiserver-kubelet-client.key
