{%- from "etcd/map.jinja" import etcd with context %}
include:
  - etcd.package.user

# etcd refuses a data dir other users can read.
etcd-config-data-dir-directory:
  file.directory:
    - name: {{ etcd.data_dir }}
    - user: {{ etcd.user }}
    - group: {{ etcd.group }}
    - mode: "0700"
    - makedirs: true
    - require:
      - sls: etcd.package.user
