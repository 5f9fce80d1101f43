{#- Run on one controller (the admin kubeconfig lives there). The manifest is rendered
    once: kept in vent:addons:manifest_dir for the operator to read, and applied by
    vent_k8s.applied (server-side apply), which reports changes only when a live
    object changed. #}
{%- from "flannel/map.jinja" import flannel with context %}
{%- set manifest = salt['slsutil.renderer'](
      'salt://flannel/files/kube-flannel.yaml.jinja', default_renderer='jinja', ctx=flannel) %}
{%- set path = flannel.manifest_dir ~ '/' ~ flannel.manifest_file %}

flannel-cluster-applied-manifest-file-managed:
  file.managed:
    - name: {{ path }}
    - contents: {{ manifest | json }}
    - mode: "0644"
    - makedirs: true

flannel-cluster-applied-manifest-vent_k8s-applied:
  vent_k8s.applied:
    - name: flannel
    - manifest: {{ manifest | json }}
    - kubeconfig: {{ flannel.admin_kubeconfig }}
    - require:
      - file: flannel-cluster-applied-manifest-file-managed

{#- Pods scheduled before flannel runs on their node fail to get a network and wait out
    the kubelet's retry (10 s or more); what is applied after this step finds it running.
    A failure ends the run (failhard): the orchestration applies the add-ons after it in
    the same run (vent_model.JOINED), and their pods would wait for a network. #}
flannel-cluster-applied-vent_k8s-rolled_out:
  vent_k8s.rolled_out:
    - name: kube-flannel-ds
    - kind: DaemonSet
    - namespace: {{ flannel.namespace }}
    - kubeconfig: {{ flannel.admin_kubeconfig }}
    - failhard: true
    - require:
      - vent_k8s: flannel-cluster-applied-manifest-vent_k8s-applied
