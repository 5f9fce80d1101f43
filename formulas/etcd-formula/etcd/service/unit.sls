{%- from "etcd/map.jinja" import etcd with context %}

# follow_symlinks false: a masked unit is a link to /dev/null, which must be
# replaced, not written through.
etcd-service-unit-file-managed:
  file.managed:
    - name: {{ etcd.unit_dir }}/{{ etcd.service }}.service
    - source: salt://etcd/files/etcd.service.jinja
    - template: jinja
    - follow_symlinks: false
    - makedirs: true
    - user: root
    - group: root
    - mode: "0644"
    - context:
        etcd: {{ etcd | json }}
