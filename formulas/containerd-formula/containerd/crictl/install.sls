{%- from "containerd/map.jinja" import containerd with context %}
{%- from "node/macros.jinja" import release_binaries %}
{{ release_binaries('containerd-crictl-install-crictl', 'crictl', 'crictl', containerd.bin_dir,
                    failhard=False) }}

containerd-crictl-install-file-managed:
  file.managed:
    - name: {{ containerd.crictl_config }}
    - mode: '0644'
    - contents: |
        # Managed by Salt (containerd formula).
        runtime-endpoint: unix://{{ containerd.socket }}
        image-endpoint: unix://{{ containerd.socket }}
        timeout: 10
