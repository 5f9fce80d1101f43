{%- from "containerd/map.jinja" import containerd with context %}
containerd-crictl-install-crictl-vent_artifact-installed:
  vent_artifact.installed:
    - component: crictl
    - file: crictl
    - bin_dir: {{ containerd.bin_dir }}

containerd-crictl-install-file-managed:
  file.managed:
    - name: {{ containerd.crictl_config }}
    - mode: '0644'
    - contents: |
        # Managed by Salt (containerd formula).
        runtime-endpoint: unix://{{ containerd.socket }}
        image-endpoint: unix://{{ containerd.socket }}
        timeout: 10
