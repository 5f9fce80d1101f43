{#- Kubeconfigs of this node's components (vent_pki.kubeconfigs decides which and
    where they point). #}
{%- from "pki/map.jinja" import pki with context %}
{%- set kubeconfigs = salt["vent_pki.kubeconfigs"]() %}
include:
  - pki.users
  - pki.certs
{%- if kubeconfigs %}

pki-kubeconfig-dir-file-directory:
  file.directory:
    - name: {{ pki.kubeconfig_dir }}
    - user: root
    - group: root
    - mode: "{{ pki.dir_mode }}"
    - makedirs: true
{%- endif %}
{%- for kc in kubeconfigs %}

pki-kubeconfig-{{ kc.name }}-file-managed:
  file.managed:
    - name: {{ pki.kubeconfig_dir }}/{{ kc.name }}.kubeconfig
    - source: salt://pki/files/kubeconfig.jinja
    - template: jinja
    - context:
        kc: {{ kc | json }}
        pki: {{ pki | json }}
        cluster: {{ pki.cluster_name | json }}
    - user: {{ kc.owner }}
    - group: {{ kc.owner }}
    - mode: "{{ pki.key_mode }}"
    - require:
      - file: pki-kubeconfig-dir-file-directory
      - sls: pki.certs
{%- endfor %}
