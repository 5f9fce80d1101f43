{%- from "apiproxy/map.jinja" import apiproxy with context %}

apiproxy-config-clean-file-absent:
  file.absent:
    - name: {{ apiproxy.config_file }}
