{%- from "addons/map.jinja" import addons with context %}
{%- from "addons/macros.jinja" import applied with context %}
{{ applied('addons-coredns-applied', 'coredns', 'salt://addons/files/coredns.yaml.jinja',
           addons, addons.coredns.manifest_file) }}

{#- The deploy ends with cluster DNS answering, not only accepted by the API. #}
addons-coredns-applied-vent_k8s-rolled_out:
  vent_k8s.rolled_out:
    - name: coredns
    - kind: Deployment
    - namespace: {{ addons.namespace }}
    - kubeconfig: {{ addons.admin_kubeconfig }}
    - require:
      - vent_k8s: addons-coredns-applied-manifest-vent_k8s-applied
