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
{%- set art = salt["vent.artifact"]("etcd", "etcd") %}
{%- set dest = etcd.release_dir ~ "/" ~ art.version %}
{%- if art.sources | length == 1 and not salt["file.file_exists"](art.mirror) %}

etcd-package-install-artifact-missing:
  test.fail_without_changes:
    - name: etcd release artifact
    - comment: >-
        vent:artifacts:releases:etcd: file etcd (version {{ art.version }}) is not in
        the mirror at {{ art.mirror }} and vent:artifacts:allow_download is false;
        run `./vent artifacts fetch` on a machine with internet access
{%- else %}

etcd-package-install-archive-extracted:
  archive.extracted:
    - name: {{ dest }}
    - source: {{ art.sources | json }}
    - source_hash: {{ art.source_hash }}
    - archive_format: tar
    - user: root
    - group: root
    - if_missing: {{ dest }}/{{ art.members[0] }}

{%- for member in art.members %}
{%- set binary = member.split("/")[-1] %}

etcd-package-install-{{ binary }}-symlink:
  file.symlink:
    - name: {{ etcd.bin_dir }}/{{ binary }}
    - target: {{ dest }}/{{ member }}
    - force: true
    - makedirs: true
    - require:
      - archive: etcd-package-install-archive-extracted
{%- endfor %}
{%- endif %}

{%- else %}

etcd-package-install-method-invalid:
  test.fail_without_changes:
    - name: etcd install method
    - comment: "vent:etcd:install: {{ etcd.install }} is neither package nor release"
{%- endif %}
