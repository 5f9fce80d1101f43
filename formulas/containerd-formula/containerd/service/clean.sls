{%- from "containerd/map.jinja" import containerd with context %}
{%- set crictl = containerd.bin_dir ~ '/crictl --runtime-endpoint unix://' ~ containerd.socket
                 ~ ' --timeout ' ~ containerd.crictl_clean_timeout %}
{#- The unit's KillMode=process stops containerd alone: its shims and their containers
    would keep running, also once the binaries are gone. So the pods go first (kubelet,
    cleaned before containerd, no longer brings them back). The check is false when
    crictl or containerd is already gone or no pod is left, so a second clean changes
    nothing. #}
containerd-service-clean-pods-cmd-run:
  cmd.run:
    - name: {{ crictl }} rmp --force --all
    - onlyif: {{ crictl }} pods --quiet | grep -q .

containerd-service-clean-service-dead:
  service.dead:
    - name: containerd
    - enable: false
    - require:
      - cmd: containerd-service-clean-pods-cmd-run

containerd-service-clean-file-absent:
  file.absent:
    - name: {{ containerd.unit_dir }}/containerd.service
    - require:
      - service: containerd-service-clean-service-dead
