{%- from "containerd/map.jinja" import containerd with context %}
{#- Only this SLS fails when gVisor's artifacts are missing: containerd and runc do not
    require it, so pods without the gvisor RuntimeClass still run. #}
{%- if containerd.gvisor.enabled %}
{%-   for file in ('runsc', 'containerd-shim-runsc-v1') %}

containerd-gvisor-install-{{ file }}-vent_artifact-installed:
  vent_artifact.installed:
    - component: gvisor
    - file: {{ file }}
    - bin_dir: {{ containerd.bin_dir }}
{%-   endfor %}
{%- else %}
containerd-gvisor-install-test-nop:
  test.nop:
    - name: gVisor disabled (vent:gvisor:enabled is false)
{%- endif %}
