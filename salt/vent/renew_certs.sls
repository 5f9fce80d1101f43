{#- salt-run state.orchestrate vent.renew_certs

    Re-issues every certificate the PKI formula manages (not the CAs), then restarts
    what reads them at start, one piece at a time so the cluster keeps answering:
    each etcd member with cluster health checked before the next, each controller
    with its /readyz before the next, then the kubelet nodes in batches of
    vent:orchestrate:worker_batch. Renewal is forced by raising, for this run only,
    vent:pki:days_remaining above vent:pki:days_valid: every certificate then counts
    as due. Keys are kept, so kubeconfigs stay valid. #}
{%- from "vent/targets.jinja" import t with context %}
{%- import "vent/steps.jinja" as steps with context %}
{%- set force = {'vent': {'pki': {
      'days_remaining': salt['pillar.get']('vent:pki:days_valid') | int + 1}}} %}
{%- set prev = namespace(id='vent-renew-refresh') %}

vent-renew-refresh:
  vent_orch.refresh:
    - tgt: {{ t.all }}
    - tgt_type: compound

{#- The CA minion's certificates first, then the others (not the CA minion again: it
    would renew twice), so a signing problem shows on one node before it fails all. #}
{{ steps.apply('vent-renew-pki-ca', t.ca, 'pki', prev.id, pillar=force) }}
{#- Salt's compound matcher needs spaces around parentheses. #}
{{ steps.apply('vent-renew-pki-nodes', '( ' ~ t.all ~ ' ) and not ' ~ t.ca, 'pki', 'vent-renew-pki-ca',
               pillar=force, batch=t.signing_batch) }}
{%- set prev.id = 'vent-renew-pki-nodes' %}

{%- for member in t.etcd_ids %}
{{ steps.apply('vent-renew-restart-etcd-' ~ member, 'L@' ~ member, 'etcd.service.restarted', prev.id) }}
{{ steps.etcd_health('vent-renew-etcd-health-' ~ member, member, 'vent-renew-restart-etcd-' ~ member) }}
{%-   set prev.id = 'vent-renew-etcd-health-' ~ member %}
{%- endfor %}

{%- for controller in t.controller_ids %}
{{ steps.apply('vent-renew-restart-controlplane-' ~ controller, 'L@' ~ controller,
               'controlplane.service.restarted', prev.id) }}
{{ steps.apply('vent-renew-readyz-' ~ controller, 'L@' ~ controller, 'controlplane.health',
               'vent-renew-restart-controlplane-' ~ controller) }}
{%-   set prev.id = 'vent-renew-readyz-' ~ controller %}
{%- endfor %}

{{ steps.apply('vent-renew-restart-compute', t.compute,
               ['kube_proxy.service.restarted', 'kubelet.service.restarted'], prev.id, batch=t.worker_batch) }}
