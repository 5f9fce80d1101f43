{%- from "node/map.jinja" import node with context %}
# Running values are left as they are; without the file they reset at the next boot.
node-sysctl-clean-file-absent:
  file.absent:
    - name: {{ node.sysctl_dir }}/{{ node.sysctl_file }}
