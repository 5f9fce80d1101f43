{%- from "etcd/map.jinja" import etcd with context %}
include:
  - etcd.package.user

{%- if etcd.install == "package" %}

etcd-package-install-pkg-installed:
  pkg.installed:
    - pkgs: {{ etcd.packages | json }}
    - require:
      - sls: etcd.package.user

# Debian's postinst starts etcd with its stock single-node config on localhost. Stop
# that instance now, before the formula's unit takes the name over and would collide
# with it on 127.0.0.1:2379.
etcd-package-install-default-instance-dead:
  service.dead:
    - name: {{ etcd.service }}
    - onchanges:
      - pkg: etcd-package-install-pkg-installed

{%- if etcd.debian_default_data_dir != etcd.data_dir %}

# The stock instance's throwaway single-node data; never the formula's data dir.
etcd-package-install-default-data-absent:
  file.absent:
    - name: {{ etcd.debian_default_data_dir }}
    - onchanges:
      - pkg: etcd-package-install-pkg-installed
    - require:
      - service: etcd-package-install-default-instance-dead
{%- endif %}

# Debian's alias unit would start the stock configuration under another name.
etcd-package-install-alias-unit-absent:
  file.absent:
    - name: {{ etcd.unit_dir }}/{{ etcd.debian_alias_unit }}
    - require:
      - pkg: etcd-package-install-pkg-installed

{%- elif etcd.install == "release" %}

etcd-package-install-etcd-vent_artifact-installed:
  vent_artifact.installed:
    - component: etcd
    - file: etcd
    - bin_dir: {{ etcd.bin_dir }}
    - failhard: true

{%- else %}

etcd-package-install-method-invalid:
  test.fail_without_changes:
    - name: etcd install method
    - comment: "vent:etcd:install: {{ etcd.install }} is neither package nor release"
{%- endif %}
