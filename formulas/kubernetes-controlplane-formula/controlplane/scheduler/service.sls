{#- Runs as its own user (pki.users); restarted when its unit or config changes. #}
include:
  - controlplane.binaries.install
  - controlplane.scheduler.config
  - pki.users

controlplane-scheduler-service-service-running:
  service.running:
    - name: kube-scheduler
    - enable: true
    - root: /  # enabled on disk, without a daemon-reload (docs/architecture.md)
    - require:
      - sls: pki.users
    - watch:
      - sls: controlplane.binaries.install
      - sls: controlplane.scheduler.config
