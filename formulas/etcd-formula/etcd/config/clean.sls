{%- from "etcd/map.jinja" import etcd with context %}

etcd-config-clean-dir-absent:
  file.absent:
    - name: {{ etcd.config_dir }}

{%- if etcd.purge_data %}

# Only on request (vent:etcd:purge_data): the data dir is the cluster's state.
etcd-config-clean-data-dir-absent:
  file.absent:
    - name: {{ etcd.data_dir }}
{%- endif %}
