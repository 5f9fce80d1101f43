{#- The service users that own component keys; other formulas include this. #}
{%- from "pki/map.jinja" import pki with context %}
{%- for user in pki.users %}
pki-users-{{ user }}-user-present:
  user.present:
    - name: {{ user }}
    - system: true
    - usergroup: true
    - createhome: false
    - shell: {{ pki.user_shell }}
{%- endfor %}
