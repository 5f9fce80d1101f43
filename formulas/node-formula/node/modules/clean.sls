{%- from "node/map.jinja" import node with context %}
# Modules stay loaded until reboot: unloading overlay under running containers fails.
node-modules-clean-file-absent:
  file.absent:
    - name: {{ node.modules_load_dir }}/{{ node.modules_load_file }}
