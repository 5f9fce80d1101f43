{%- from "containerd/map.jinja" import containerd with context %}
containerd-config-clean-file-absent:
  file.absent:
    - names:
      - {{ containerd.config_file }}
      - {{ containerd.runsc_config_file }}
      - {{ containerd.hosts_dir }}
