{%- from "etcd/map.jinja" import etcd with context %}
# etcd runs as its own unprivileged user; Debian's package would create the same one.
etcd-package-user-group-present:
  group.present:
    - name: {{ etcd.group }}
    - system: true

etcd-package-user-user-present:
  user.present:
    - name: {{ etcd.user }}
    - gid: {{ etcd.group }}
    - system: true
    - home: {{ etcd.home }}
    - createhome: false
    - shell: /usr/sbin/nologin
    - require:
      - group: etcd-package-user-group-present
