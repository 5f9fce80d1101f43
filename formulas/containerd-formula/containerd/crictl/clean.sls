{%- from "containerd/map.jinja" import containerd with context %}

containerd-crictl-clean-crictl-vent_artifact-removed:
  vent_artifact.removed:
    - component: crictl
    - file: crictl
    - bin_dir: {{ containerd.bin_dir }}

containerd-crictl-clean-file-absent:
  file.absent:
    - name: {{ containerd.crictl_config }}
