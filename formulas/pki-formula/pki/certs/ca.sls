{#- The CA certificate every node trusts, from the CA minion's mine entry. Without it
    nothing else can be issued: fail here with what to run. #}
{%- from "pki/map.jinja" import pki with context %}
{%- set ca_pem = salt["vent_pki.ca_pem"]() %}
{%- if not ca_pem %}
pki-certs-ca-missing-test-fail-without-changes:
  test.fail_without_changes:
    - name: vent-pki
    - comment: {{ salt["vent_pki.missing_ca_message"]() | json }}
{%- else %}
pki-certs-ca-dir-file-directory:
  file.directory:
    - name: {{ pki.dir }}
    - user: root
    - group: root
    - mode: "{{ pki.dir_mode }}"
    - makedirs: true

pki-certs-ca-crt-file-managed:
  file.managed:
    - name: {{ pki.dir }}/ca.crt
    - contents: {{ ca_pem | json }}
    - user: root
    - group: root
    - mode: "{{ pki.cert_mode }}"
    - require:
      - file: pki-certs-ca-dir-file-directory
{%- endif %}
