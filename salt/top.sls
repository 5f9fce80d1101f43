# Highstate by role grain: `salt '*' state.apply` converges each node to what the
# `vent` orchestration gives it (the orchestration adds ordering across nodes).
# etcd runs on nodes with the etcd role; without any, on the controllers.
{%- set dedicated_etcd = salt['mine.get']('roles:etcd', 'vent_node', tgt_type='grain') %}
{%- set schedulable = salt['pillar.get']('vent:roles:controllers_schedulable', false) %}
{%- set compute = 'G@roles:worker or G@roles:controller' if schedulable else 'G@roles:worker' %}
base:
  '*':
    - pki
{%- if dedicated_etcd %}
  'roles:etcd':
    - match: grain
    - etcd
{%- endif %}
  'roles:controller':
    - match: grain
{%- if not dedicated_etcd %}
    - etcd
{%- endif %}
    - controlplane
  '{{ compute }}':
    - match: compound
    - node
    - containerd
    - cni
    - kubelet
    - kube_proxy
    - flannel
  'G@roles:controller and G@id:{{ salt['pillar.get']('vent:pki:ca_minion', '') }}':
    - match: compound
    - addons
