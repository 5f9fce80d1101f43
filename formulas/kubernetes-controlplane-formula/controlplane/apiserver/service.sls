{#- Runs as its own user (pki.users); restarted when its unit or config changes. #}
include:
  - controlplane.binaries.install
  - controlplane.apiserver.config
  - pki.users

controlplane-apiserver-service-service-running:
  service.running:
    - name: kube-apiserver
    - enable: true
    - require:
      - sls: pki.users
    - watch:
      - sls: controlplane.binaries.install
      - sls: controlplane.apiserver.config
