{%- from "etcd/map.jinja" import etcd with context %}
{#- Names, URLs, the initial cluster (from the mine) and TLS paths come from the
    vent_etcd module, which the runners and the health check use as well. #}
{%- set conf = salt["vent_etcd.settings"]() %}
include:
  - etcd.package.user

{%- for what, path in conf.tls | dictsort %}

# etcd fails at start-up without these; fail here, naming the file, instead.
etcd-config-file-tls-{{ what | replace("_", "-") }}-exists:
  file.exists:
    - name: {{ path }}
{%- endfor %}

etcd-config-file-dir-directory:
  file.directory:
    - name: {{ etcd.config_dir }}
    - user: root
    - group: {{ etcd.group }}
    - mode: "0750"
    - makedirs: true
    - require:
      - sls: etcd.package.user

etcd-config-file-file-managed:
  file.managed:
    - name: {{ etcd.config_file }}
    - source: salt://etcd/files/etcd.conf.yml.jinja
    - template: jinja
    - user: root
    - group: {{ etcd.group }}
    - mode: "0640"
    - context:
        conf: {{ conf | json }}
    - require:
      - file: etcd-config-file-dir-directory
