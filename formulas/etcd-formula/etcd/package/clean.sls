{%- from "etcd/map.jinja" import etcd with context %}
{%- if etcd.install == "package" %}

etcd-package-clean-pkg-removed:
  pkg.removed:
    - pkgs: {{ etcd.packages | json }}
{%- else %}
{%- for binary in ("etcd", "etcdctl", "etcdutl") %}

etcd-package-clean-{{ binary }}-absent:
  file.absent:
    - name: {{ etcd.bin_dir }}/{{ binary }}
{%- endfor %}

etcd-package-clean-release-root-absent:
  file.absent:
    - name: {{ etcd.unpack_root }}/etcd
{%- endif %}
