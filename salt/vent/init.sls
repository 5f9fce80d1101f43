{#- salt-run state.orchestrate vent — the deploy, in order. Each step requires the one
    before it, so a failed step stops everything after it; vent:orchestrate:stop_after
    ends the run after the named phase. Re-running it on a converged cluster changes
    nothing; after `salt-cloud -p worker worker-2` it converges only the new node. #}
{%- from "vent/targets.jinja" import t, runs with context %}
{%- import "vent/steps.jinja" as steps %}
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
{{ steps.etcd_artifacts('vent-etcd-artifacts', t.etcd, prev.id) }}
{%-     set prev.id = 'vent-etcd-artifacts' %}
{%-   endif %}

vent-etcd:
  vent_orch.apply:
    - tgt: {{ t.etcd }}
    - sls: etcd
{{- after() }}
{%- set prev.id = 'vent-etcd' %}
{%-   if t.etcd_ids %}
{{ steps.etcd_health('vent-etcd-health', t.etcd_ids | first, prev.id) }}
{%-   else %}

vent-etcd-health:
  vent_orch.not_run:
    - reason: no etcd member (no minion with role etcd or controller)
{{- after() }}
{%-   endif %}
{%- set prev.id = 'vent-etcd-health' %}
{%- endif %}

{#- The container runtime needs no API server: it is up (and checkable) even where the
    Kubernetes release files are absent and everything from the control plane on is
    reported as not run. #}
{%- if runs('runtime') %}
{%-   if t.containerd_release or t.runc_release or t.cni_release %}

vent-runtime-artifacts:
  vent_orch.artifacts:
    - tgt: {{ t.compute }}
    - files:
{%-     for component, file, release in [('containerd', 'containerd', t.containerd_release),
                                          ('runc', 'runc', t.runc_release),
                                          ('cni_plugins', 'cni-plugins', t.cni_release)] if release %}
      - [{{ component }}, {{ file }}]
{%-     endfor %}
{{- after() }}
{%-     set prev.id = 'vent-runtime-artifacts' %}
{%-   endif %}
{#- containerd.service.running: containerd, runc and the config; crictl and gVisor come
    with the workers step, whose artifact check names them. #}
{{ steps.apply('vent-runtime', t.compute, ['containerd.service.running', 'cni'], prev.id, batch=t.worker_batch) }}
{%- set prev.id = 'vent-runtime' %}
{%- endif %}

{%- if runs('controlplane') %}
{{ steps.controlplane_artifacts('vent-controlplane-artifacts', t.controllers, prev.id) }}
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
{{ steps.worker_artifacts('vent-workers-artifacts', t.compute, t, prev.id) }}
{%- set prev.id = 'vent-workers-artifacts' %}
{{ steps.apply('vent-workers', t.compute, ['containerd', 'kubelet', 'kube_proxy'], prev.id, batch=t.worker_batch) }}
{%- set prev.id = 'vent-workers' %}
{%- endif %}

{%- if runs('flannel') %}
{{ steps.flannel_artifacts('vent-flannel-artifacts', t.compute, prev.id) }}
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
