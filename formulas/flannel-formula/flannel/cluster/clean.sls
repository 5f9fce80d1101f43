{#- Deleting the DaemonSet leaves each node's flannel.1 device and routes to the
    kernel; flannel.clean on the nodes and a reboot (or `ip link del flannel.1`) finish
    the job. #}
{%- from "flannel/map.jinja" import flannel with context %}
{%- set path = flannel.manifest_dir ~ '/' ~ flannel.manifest_file %}
{%- set manifest = salt['slsutil.renderer'](
      'salt://flannel/files/kube-flannel.yaml.jinja', default_renderer='jinja', ctx=flannel) %}

flannel-cluster-clean-manifest-vent_k8s-absent:
  vent_k8s.absent:
    - name: flannel
    - manifest: {{ manifest | json }}
    - kubeconfig: {{ flannel.admin_kubeconfig }}

flannel-cluster-clean-manifest-file-absent:
  file.absent:
    - name: {{ path }}
