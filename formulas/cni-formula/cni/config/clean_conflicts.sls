{%- from "cni/map.jinja" import cni with context %}
{#- The runtime uses the lexically first config in conf_dir, so a bridge config left by
    containerd's or podman's packaging would silently replace flannel's network. Only
    the names in vent:cni:remove_configs go; anything else is the operator's. #}
cni-config-clean_conflicts-file-directory:
  file.directory:
    - name: {{ cni.conf_dir }}
    - makedirs: true
    - mode: '0755'
{%- for name in cni.remove_configs %}

cni-config-clean_conflicts-{{ name }}-file-absent:
  file.absent:
    - name: {{ cni.conf_dir }}/{{ name }}
{%- endfor %}
