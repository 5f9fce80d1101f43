{%- from "containerd/map.jinja" import containerd with context %}
containerd-crictl-clean-file-absent:
  file.absent:
    - names:
      - {{ containerd.bin_dir }}/crictl
      - {{ containerd.crictl_config }}
      - /opt/vent/crictl
