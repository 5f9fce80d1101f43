{#- Runs as its own user (pki.users); restarted when its unit or config changes. #}
include:
  - controlplane.binaries.install
  - controlplane.controller_manager.config
  - pki.users

controlplane-controller_manager-service-service-running:
  service.running:
    - name: kube-controller-manager
    - enable: true
    - root: /  # enabled on disk, without a daemon-reload (docs/architecture.md)
    - require:
      - sls: pki.users
    - watch:
      - sls: controlplane.binaries.install
      - sls: controlplane.controller_manager.config
