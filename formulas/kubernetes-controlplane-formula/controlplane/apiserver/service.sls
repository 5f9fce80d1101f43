{#- Runs as its own user (pki.users); restarted when its unit, its configs or its
    encryption config (pki.encryption) change. The deploy writes the encryption config
    in its PKI step, a run before this one, where no watch here sees the change: a
    config newer than the running kube-apiserver counts as a change too. #}
{%- from "controlplane/map.jinja" import cp with context %}
{%- set stale = salt['vent_cluster.read_before_change']('kube-apiserver', cp.dirs.encryption_config) %}
include:
  - controlplane.binaries.install
  - controlplane.apiserver.config
  - pki.users
  - pki.encryption

controlplane-apiserver-service-encryption-test-configurable_test_state:
  test.configurable_test_state:
    - name: {{ cp.dirs.encryption_config }} changed since kube-apiserver started
    - changes: {{ stale | json }}
    - result: true
    - comment: >-
        {{ 'kube-apiserver started before ' ~ cp.dirs.encryption_config ~ ' last changed'
           if stale else 'kube-apiserver has read ' ~ cp.dirs.encryption_config ~ ' as it is' }}

controlplane-apiserver-service-service-running:
  service.running:
    - name: kube-apiserver
    - enable: true
    - root: /  # enabled on disk, without a daemon-reload (docs/architecture.md)
    - require:
      - sls: pki.users
    - watch:
      - sls: controlplane.binaries.install
      - sls: controlplane.apiserver.config
      - sls: pki.encryption
      - test: controlplane-apiserver-service-encryption-test-configurable_test_state
