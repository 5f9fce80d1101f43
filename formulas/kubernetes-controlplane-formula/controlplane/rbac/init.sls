{#- Post-start RBAC, applied through vent_k8s.applied (reads live objects first;
    server-side apply only on a difference, so a re-run changes nothing). #}
{%- from "controlplane/map.jinja" import cp with context %}
{%- set manifest = salt['slsutil.renderer'](
      'salt://controlplane/files/rbac-apiserver-kubelet.yaml.jinja', default_renderer='jinja',
      kubelet_client_user=cp.kubelet_client_user) %}
include:
  - controlplane.health

controlplane-rbac-apiserver-kubelet-vent_k8s-applied:
  vent_k8s.applied:
    - name: apiserver-to-kubelet
    - manifest: {{ manifest | json }}
    - kubeconfig: {{ cp.dirs.admin_kubeconfig }}
    - kubectl: {{ cp.dirs.bin }}/kubectl
    - require:
      - sls: controlplane.health
