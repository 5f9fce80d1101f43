{#- Deleting the DaemonSet leaves each node's flannel.1 device and routes to the
    kernel; flannel.clean on the nodes and a reboot (or `ip link del flannel.1`) finish
    the job. #}
{%- from "flannel/map.jinja" import flannel with context %}
{%- set path = flannel.manifest_dir ~ '/' ~ flannel.manifest_file %}
{%- set manifest = salt['slsutil.renderer'](
      'salt://flannel/files/kube-flannel.yaml.jinja', default_renderer='jinja', ctx=flannel) %}

{%- if 'vent_k8s.absent' in salt['sys.list_state_functions']('vent_k8s') %}

flannel-cluster-clean-manifest-vent_k8s-absent:
  vent_k8s.absent:
    - name: flannel
    - manifest: {{ manifest | json }}
    - kubeconfig: {{ flannel.admin_kubeconfig }}
    - require_in:
      - file: flannel-cluster-clean-manifest-file-absent

{%- endif %}

flannel-cluster-clean-manifest-file-absent:
  file.absent:
    - name: {{ path }}
