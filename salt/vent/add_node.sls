{#- salt-run state.orchestrate vent.add_node, with pillar vent:add_node the new minion's id
    (docs/day2.md).

    Brings one new node (already accepted, roles grain set: `salt-cloud -p
    vent-worker worker-2` does both) into a running cluster with the deploy's own
    steps, applied to that node alone, except that after a new controller's control
    plane every kubelet node has apiproxy re-applied (vent-add-node-apiproxy, a
    haproxy reload): nothing else is re-issued or restarted. A new etcd member is
    announced to the running members (`vent.etcd_member_add`) before etcd starts on
    it. Re-running `vent` would converge the same node but apply every formula on
    every node on the way. #}
{%- from "vent/targets.jinja" import t, cached with context %}
{%- import "vent/steps.jinja" as steps with context %}
{%- set node = salt['pillar.get']('vent:add_node') %}
{%- if not node %}
{{- raise('vent:add_node: missing; pass the new minion\'s id as pillar vent:add_node (docs/day2.md)') }}
{%- endif %}
{%- if node is not string %}
{{- raise('vent:add_node: give one minion id as a string, not ' ~ node) }}
{%- endif %}
{%- set roles = (cached.get(node) or {}).get('roles', []) %}
{%- if not roles %}
{{- raise('vent:add_node: ' ~ node ~ ' has no roles grain in the master\'s cache; is the minion'
          ~ ' up and its key accepted (salt-key -L)?') }}
{%- endif %}
{%- if 'etcd' in roles and t.etcd_ids == [node] and t.controller_ids %}
{{- raise('vent:add_node: ' ~ node ~ ' would be the first etcd-role node: etcd runs on the controllers'
          ~ ' and would move to it alone; add etcd-role nodes only to a cluster deployed with them') }}
{%- endif %}
{%- set tgt = 'L@' ~ node %}
{%- set is_etcd = node in t.etcd_ids %}
{%- set is_controller = 'controller' in roles %}
{%- set is_compute = node in t.compute_ids %}
{%- set prev = namespace(id='vent-add-node-refresh') %}

{#- Every node: the mine must list the new node before certificates (SANs) and etcd
    membership are computed from it. #}
vent-add-node-refresh:
  vent_orch.refresh:
    - tgt: {{ t.all }}
    - tgt_type: compound

{#- The release files of the steps below, checked before any of them runs. #}
{%- set files = [] %}
{%- for step, wanted in [('etcd', is_etcd), ('controlplane', is_controller), ('runtime', is_compute),
                         ('workers', is_compute)] if wanted %}
{%-   do files.extend(t.artifacts[step] | reject('in', files) | list) %}
{%- endfor %}
{%- if files %}
{{ steps.artifacts('vent-add-node-artifacts', tgt, files, prev.id) }}
{%-   set prev.id = 'vent-add-node-artifacts' %}
{%- endif %}

{%- if is_compute %}
{{ steps.apply('vent-add-node-node', tgt, 'node', prev.id) }}
{%-   set prev.id = 'vent-add-node-node' %}
{%- endif %}
{{ steps.apply('vent-add-node-pki', tgt, 'pki', prev.id) }}
{%- set prev.id = 'vent-add-node-pki' %}

{%- if is_etcd %}

{#- Members started without this peer in their cluster must learn it first, or they
    refuse its connections; the runner also makes it start as "existing". #}
vent-add-node-etcd-member-add:
  salt.runner:
    - name: vent.etcd_member_add
    - minion: {{ node }}
    - require:
      - {{ prev.id }}
{{ steps.apply('vent-add-node-etcd', tgt, 'etcd', 'vent-add-node-etcd-member-add') }}
{%-   set prev.id = 'vent-add-node-etcd' %}
{%- endif %}

{%- if is_controller %}
{{ steps.apply('vent-add-node-controlplane', tgt, 'controlplane', prev.id) }}
{#- Every node's API proxy learns the new controller (a reload, no kubelet restart). #}
{{ steps.apply('vent-add-node-apiproxy', t.compute, 'apiproxy', 'vent-add-node-controlplane') }}
{%-   set prev.id = 'vent-add-node-apiproxy' %}
{%- endif %}

{%- if is_compute %}
{{ steps.worker_stack('vent-add-node-workers', tgt, prev.id) }}
{{ steps.apply('vent-add-node-flannel', tgt, 'flannel', 'vent-add-node-workers') }}
{%- endif %}
