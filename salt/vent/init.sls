{#- salt-run state.orchestrate vent — the deploy, in order. Each step requires the one
    before it, so a failed step stops everything after it; vent:orchestrate:stop_after
    ends the run after the named phase. Re-running it on a converged cluster changes
    nothing; after `salt-cloud -p worker worker-2` it converges only the new node. #}
{%- from "vent/targets.jinja" import t, runs with context %}
{%- set prev = namespace(id='') %}
{%- macro after() %}
    - require:
      - {{ prev.id }}
{%- endmacro %}

vent-refresh:
  vent_orch.refresh:
    - tgt: {{ t.all }}
    - tgt_type: compound
{%- set prev.id = 'vent-refresh' %}

{%- if runs('validate') %}

vent-validate:
  vent_orch.check:
    - minion_id: {{ t.ca_id }}
{{- after() }}
{%- set prev.id = 'vent-validate' %}
{%- endif %}

{%- if runs('node') %}

vent-node:
  vent_orch.apply:
    - tgt: {{ t.compute }}
    - sls: node
{{- after() }}
{%- set prev.id = 'vent-node' %}
{%- endif %}

{%- if runs('pki') %}

vent-pki-ca:
  vent_orch.apply:
    - tgt: {{ t.ca }}
    - sls: pki
{{- after() }}
{%- set prev.id = 'vent-pki-ca' %}

vent-pki-nodes:
  vent_orch.apply:
    - tgt: {{ t.all }}
    - sls: pki
{{- after() }}
{%- set prev.id = 'vent-pki-nodes' %}
{%- endif %}

{%- if runs('etcd') %}
{%-   if t.etcd_release %}

vent-etcd-artifacts:
  vent_orch.artifacts:
    - tgt: {{ t.etcd }}
    - files: [[etcd, etcd]]
{{- after() }}
{%-     set prev.id = 'vent-etcd-artifacts' %}
{%-   endif %}

vent-etcd:
  vent_orch.apply:
    - tgt: {{ t.etcd }}
    - sls: etcd
{{- after() }}
{%- set prev.id = 'vent-etcd' %}

vent-etcd-health:
{%-   if t.etcd_ids %}
  vent_orch.call:
    - tgt: {{ t.etcd_ids | first }}
    - tgt_type: glob
    - function: vent_etcd.wait_healthy
{%-   else %}
  vent_orch.not_run:
    - reason: no etcd member (no minion with role etcd or controller)
{%-   endif %}
{{- after() }}
{%- set prev.id = 'vent-etcd-health' %}
{%- endif %}

{%- if runs('controlplane') %}

vent-controlplane-artifacts:
  vent_orch.artifacts:
    - tgt: {{ t.controllers }}
    - files:
      - [kubernetes, kube-apiserver]
      - [kubernetes, kube-controller-manager]
      - [kubernetes, kube-scheduler]
      - [kubernetes, kubectl]
{{- after() }}
{%- set prev.id = 'vent-controlplane-artifacts' %}

vent-controlplane:
  vent_orch.apply:
    - tgt: {{ t.controllers }}
    - sls: controlplane
{{- after() }}
{%- set prev.id = 'vent-controlplane' %}

vent-controlplane-readyz:
  vent_orch.apply:
    - tgt: {{ t.controllers }}
    - sls: vent.readyz
{{- after() }}
{%- set prev.id = 'vent-controlplane-readyz' %}
{%- endif %}

{%- if runs('rbac') %}

vent-rbac:
  vent_orch.apply:
    - tgt: {{ t.ca }}
    - sls: controlplane.rbac
{{- after() }}
{%- set prev.id = 'vent-rbac' %}
{%- endif %}

{%- if runs('workers') %}

vent-workers-artifacts:
  vent_orch.artifacts:
    - tgt: {{ t.compute }}
    - files:
      - [kubernetes, kubelet]
      - [kubernetes, kube-proxy]
      - [crictl, crictl]
{%-   if t.containerd_release %}
      - [containerd, containerd]
{%-   endif %}
{%-   if t.runc_release %}
      - [runc, runc]
{%-   endif %}
{%-   if t.cni_release %}
      - [cni_plugins, cni-plugins]
{%-   endif %}
{%-   if t.gvisor %}
      - [gvisor, runsc]
      - [gvisor, containerd-shim-runsc-v1]
{%-   endif %}
{{- after() }}
{%- set prev.id = 'vent-workers-artifacts' %}

vent-workers:
  vent_orch.apply:
    - tgt: {{ t.compute }}
    - sls: [containerd, cni, kubelet, kube_proxy]
    - batch: {{ t.worker_batch }}
{{- after() }}
{%- set prev.id = 'vent-workers' %}
{%- endif %}

{%- if runs('flannel') %}

vent-flannel-artifacts:
  vent_orch.artifacts:
    - tgt: {{ t.compute }}
    - files: [[flannel, flanneld]]
{{- after() }}
{%- set prev.id = 'vent-flannel-artifacts' %}

vent-flannel:
  vent_orch.apply:
    - tgt: {{ t.compute }}
    - sls: flannel
{{- after() }}
{%- set prev.id = 'vent-flannel' %}

vent-flannel-cluster:
  vent_orch.apply:
    - tgt: {{ t.ca }}
    - sls: flannel.cluster.applied
{{- after() }}
{%- set prev.id = 'vent-flannel-cluster' %}
{%- endif %}

{%- if runs('addons') %}

vent-addons:
  vent_orch.apply:
    - tgt: {{ t.ca }}
    - sls: addons
{{- after() }}
{%- set prev.id = 'vent-addons' %}
{%- endif %}

{%- if runs('status') %}

vent-status:
  vent_orch.status:
{{- after() }}
{%- endif %}
