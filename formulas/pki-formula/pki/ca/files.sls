{#- The CA minion's own copy of the CA, from pillar (given to it alone). Policies sign
    with the PEM in pillar; the files are for the operator's inspection and backup. #}
{%- from "pki/map.jinja" import pki with context %}
{%- set ca = salt["pillar.get"]("vent:pki:ca", {}) %}
{%- if not salt["vent_pki.is_ca"]() %}
pki-ca-files-not-ca-minion-test-fail-without-changes:
  test.fail_without_changes:
    - name: vent-pki
    - comment: >-
        {{ opts.id }} is not vent:pki:ca_minion ({{ pki.ca_minion }}); apply pki.ca
        on the CA minion only.
{%- elif not ca.get("key") or not ca.get("cert") %}
pki-ca-files-missing-test-fail-without-changes:
  test.fail_without_changes:
    - name: vent-pki
    - comment: >-
        vent:pki:ca is missing from {{ opts.id }}'s pillar. Run `salt-run vent.ca_init
        ca_minion={{ opts.id }}` on the master, then `salt {{ opts.id }}
        saltutil.refresh_pillar`.
{%- else %}
{#- Made here first: makedirs gives missing parents the mode of the directory it
    makes, and the etcd and kube-* users must traverse these. #}
pki-ca-files-pki-dir-file-directory:
  file.directory:
    - name: {{ pki.dir }}
    - user: root
    - group: root
    - mode: "{{ pki.dir_mode }}"
    - makedirs: true

pki-ca-files-dir-file-directory:
  file.directory:
    - name: {{ pki.dir }}/ca
    - user: root
    - group: root
    - mode: "0700"
    - require:
      - file: pki-ca-files-pki-dir-file-directory
{#- A CA made before Vent had an etcd CA has none (vent_pki._etcd_signer). #}
{%- set files = [("ca.key", "key", pki.key_mode), ("ca.crt", "cert", pki.cert_mode),
                 ("front-proxy-ca.key", "front_proxy_key", pki.key_mode),
                 ("front-proxy-ca.crt", "front_proxy_cert", pki.cert_mode)] %}
{%- if ca.get("etcd_key") %}
{%-   do files.extend([("etcd-ca.key", "etcd_key", pki.key_mode),
                       ("etcd-ca.crt", "etcd_cert", pki.cert_mode)]) %}
{%- endif %}
{%- for name, field, mode in files %}

pki-ca-files-{{ name }}-file-managed:
  file.managed:
    - name: {{ pki.dir }}/ca/{{ name }}
    - contents_pillar: vent:pki:ca:{{ field }}
    - user: root
    - group: root
    - mode: "{{ mode }}"
    - show_changes: false
    - require:
      - file: pki-ca-files-dir-file-directory
{%- endfor %}

# Publish the certificate (never the key) as soon as it changes, stored on the master
# when this state ends: the nodes read it from the mine in their next step. Upstream's
# mine.update hands the data to the minion daemon and sleeps a fixed 0.5 s for it (half
# of this step in a lab deploy, the nodes idle).
pki-ca-files-mine-module-run:
  module.run:
    - vent_cluster.mine_update: []
    - onchanges:
      - file: pki-ca-files-ca.crt-file-managed
      - file: pki-ca-files-front-proxy-ca.crt-file-managed
{%- if ca.get("etcd_key") %}
      - file: pki-ca-files-etcd-ca.crt-file-managed
{%- endif %}
{%- endif %}
