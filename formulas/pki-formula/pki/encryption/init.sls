{#- kube-apiserver's encryption-at-rest config, controllers only. #}
{%- from "pki/map.jinja" import pki with context %}
{%- if "pki.encryption" in salt["vent_pki.parts"]() %}
{%- set enc = salt["pillar.get"]("vent:encryption", {}) %}
include:
  - pki.users
{%- if enc.get("provider") not in pki.encryption_providers %}

pki-encryption-provider-test-fail-without-changes:
  test.fail_without_changes:
    - name: vent-pki
    - comment: "vent:encryption:provider: {{ enc.get('provider') }} must be one of {{ pki.encryption_providers | join(', ') }}"
{%- elif not enc.get("key") %}

pki-encryption-key-missing-test-fail-without-changes:
  test.fail_without_changes:
    - name: vent-pki
    - comment: >-
        vent:encryption:key is missing from {{ opts.id }}'s pillar. Run `salt-run
        vent.encryption_key_init` on the master, then `salt {{ opts.id }}
        saltutil.refresh_pillar`.
{%- else %}

pki-encryption-config-file-managed:
  file.managed:
    - name: {{ pki.encryption_config }}
    - source: salt://pki/files/encryption-config.yaml.jinja
    - template: jinja
    - context:
        provider: {{ enc.provider }}
        key: {{ enc.key | json }}
    - user: kube-apiserver
    - group: kube-apiserver
    - mode: "0600"
    - makedirs: true
    # Without it a missing parent gets 0700 and the other services lose their PKI dir.
    - dir_mode: "{{ pki.dir_mode }}"
    - show_changes: false
    - require:
      - sls: pki.users
{%- endif %}
{%- endif %}
