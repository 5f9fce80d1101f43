{#- Run on one controller (the admin kubeconfig lives there). The manifest is rendered
    once: kept in vent:addons:manifest_dir for the operator to read, and applied by
    vent_k8s.applied (server-side apply), which reports changes only when a live
    object changed. The deploy applies it at the end of the control plane's step where
    it can (vent_model.LEADS), so flannel starts on each node as its kubelet registers. #}
{%- from "flannel/map.jinja" import flannel with context %}
{%- set manifest = salt['slsutil.renderer'](
      'salt://flannel/files/kube-flannel.yaml.jinja', default_renderer='jinja', ctx=flannel) %}
{%- set path = flannel.manifest_dir ~ '/' ~ flannel.manifest_file %}

flannel-cluster-manifest-file-managed:
  file.managed:
    - name: {{ path }}
    - contents: {{ manifest | json }}
    - mode: "0644"
    - makedirs: true

flannel-cluster-manifest-vent_k8s-applied:
  vent_k8s.applied:
    - name: flannel
    - manifest: {{ manifest | json }}
    - kubeconfig: {{ flannel.admin_kubeconfig }}
    - require:
      - file: flannel-cluster-manifest-file-managed
