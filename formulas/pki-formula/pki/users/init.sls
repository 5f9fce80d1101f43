{#- The service users that own component keys, those of the node's roles; other
    formulas include this. #}
{%- from "pki/map.jinja" import pki with context %}
{%- for user in pki.users %}
pki-users-{{ user }}-user-present:
  user.present:
    - name: {{ user }}
    - system: true
    - usergroup: true
    - createhome: false
    - shell: {{ pki.user_shell }}
{%- else %}
{#- Other formulas require this sls, which must then hold a state. #}
pki-users-test-nop:
  test.nop:
    - name: none of this node's roles runs as a service user of its own
{%- endfor %}
