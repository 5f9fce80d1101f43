{#- Runs as its own user (pki.users); restarted when its unit or config changes. #}
include:
  - controlplane.binaries.install
  - controlplane.controller_manager.config
  - pki.users

controlplane-controller_manager-service-service-running:
  service.running:
    - name: kube-controller-manager
    - enable: true
    # Enabled on disk (systemctl --root): systemd needs no daemon-reload, 0.1 s of
    # the node's CPU each, to learn that a unit it already runs starts at boot.
    - root: /
    - require:
      - sls: pki.users
    - watch:
      - sls: controlplane.binaries.install
      - sls: controlplane.controller_manager.config
