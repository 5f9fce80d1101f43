{#- flannel's objects in the cluster (flannel.cluster.manifest), then the wait for its
    DaemonSet to run on every node. #}
{%- from "flannel/map.jinja" import flannel with context %}
include:
  - flannel.cluster.manifest

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
      - vent_k8s: flannel-cluster-manifest-vent_k8s-applied
