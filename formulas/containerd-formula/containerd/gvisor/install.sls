{%- from "containerd/map.jinja" import containerd with context %}
{#- Only this SLS fails when gVisor's artifacts are missing: containerd and runc do not
    require it, so pods without the gvisor RuntimeClass still run. #}
{%- if containerd.gvisor.enabled %}
{%-   from "node/macros.jinja" import release_binaries %}
{{ release_binaries('containerd-gvisor-install-runsc', 'gvisor', 'runsc', containerd.bin_dir,
                    failhard=False) }}

{{ release_binaries('containerd-gvisor-install-shim', 'gvisor', 'containerd-shim-runsc-v1',
                    containerd.bin_dir, failhard=False) }}
{%- else %}
containerd-gvisor-install-test-nop:
  test.nop:
    - name: gVisor disabled (vent:gvisor:enabled is false)
{%- endif %}
