{#- The conflist the kubelet's runtime (containerd) reads. Written by Salt instead of
    the DaemonSet's init container so a node's CNI config is in place, and checked,
    before any pod needs it. #}
{%- from "flannel/map.jinja" import flannel with context %}

flannel-config-file-conflist-file-managed:
  file.managed:
    - name: {{ flannel.cni_conf_dir }}/{{ flannel.cni_conflist }}
    - source: salt://flannel/files/10-flannel.conflist.jinja
    - template: jinja
    - context:
        ctx: {{ flannel | json }}
    - mode: "0644"
    - user: root
    - group: root
    - makedirs: true
