{%- from "containerd/map.jinja" import containerd with context %}
include:
  - containerd.package.install
  - containerd.runc.install
  - containerd.config.file

{#- Debian's package ships its own unit; ours takes precedence from /etc and points at
    the rendered config either way. #}
containerd-service-running-file-managed:
  file.managed:
    - name: {{ containerd.unit_dir }}/containerd.service
    - source: salt://containerd/files/containerd.service.jinja
    - template: jinja
    - mode: '0644'
    - context:
        containerd: {{ containerd | json }}
  module.run:
    - service.systemctl_reload: []
    - onchanges:
      - file: containerd-service-running-file-managed

containerd-service-running-service-running:
  service.running:
    - name: containerd
    - enable: true
    - root: /  # enabled on disk, without a daemon-reload (docs/architecture.md)
    - watch:
      - file: containerd-service-running-file-managed
      - sls: containerd.config.file
      - sls: containerd.package.install
      - sls: containerd.runc.install

{#- Bounded: `ctr version` needs the daemon's socket to answer. #}
containerd-service-running-cmd-run:
  cmd.run:
    - name: >-
        for i in $(seq 1 30); do
        ctr --address {{ containerd.socket }} version >/dev/null 2>&1 && exit 0; sleep 1;
        done; echo "containerd did not answer on {{ containerd.socket }} within 30s" >&2; exit 1
    - unless: ctr --address {{ containerd.socket }} version
    - require:
      - service: containerd-service-running-service-running
