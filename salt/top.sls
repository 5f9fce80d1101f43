# Highstate by role grain: `salt '*' state.apply` converges each node to what the
# `vent` orchestration gives it (the orchestration adds ordering across nodes). Who
# runs what is the cluster model's answer (vent_model.targets), from the mine.
{%- set t = salt['vent_cluster.targets']() %}
base:
  '*':
    - pki
{%- if t.etcd_dedicated %}
  'roles:etcd':
    - match: grain
    - etcd
{%- endif %}
  'roles:controller':
    - match: grain
{%- if not t.etcd_dedicated %}
    - etcd
{%- endif %}
    - controlplane
  '{{ t.compute }}':
    - match: compound
    - node
    - apiproxy
    - containerd
    - cni
    - kubelet
    - kube_proxy
    - flannel
  'G@roles:controller and G@id:{{ t.ca_id }}':
    - match: compound
    - addons
