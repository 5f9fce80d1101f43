{#- The service-account signing key pair: one for all controllers, from pillar (which
    renders it for controllers only). kube-apiserver signs with it and
    kube-controller-manager reads it too, hence group-readable by that user. #}
{%- from "pki/map.jinja" import pki with context %}
{%- if "pki.certs.service_account" in salt["vent_pki.parts"]() %}
{%- set sa = salt["pillar.get"]("vent:pki:service_account", {}) %}
include:
  - pki.users
  - pki.certs.ca
{%- if not sa.get("key") or not sa.get("pub") %}

pki-certs-service-account-missing-test-fail-without-changes:
  test.fail_without_changes:
    - name: vent-pki
    - comment: >-
        vent:pki:service_account is missing from {{ opts.id }}'s pillar (it is rendered
        for minions with the controller role). Run `salt-run vent.ca_init` on the
        master, then `salt {{ opts.id }} saltutil.refresh_pillar`.
{%- else %}
{%- for name, field, mode in [("service-account.key", "key", "0640"),
                              ("service-account.pub", "pub", pki.cert_mode)] %}

pki-certs-service-account-{{ field }}-file-managed:
  file.managed:
    - name: {{ pki.dir }}/{{ name }}
    - contents_pillar: vent:pki:service_account:{{ field }}
    - user: kube-apiserver
    - group: kube-controller-manager
    - mode: "{{ mode }}"
    - show_changes: false
    - require:
      - sls: pki.users
      - sls: pki.certs.ca
{%- endfor %}
{%- endif %}
{%- endif %}
