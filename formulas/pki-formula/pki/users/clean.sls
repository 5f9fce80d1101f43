{%- from "pki/map.jinja" import pki with context %}
{%- for user in pki.users %}
pki-users-clean-{{ user }}-user-absent:
  user.absent:
    - name: {{ user }}
{%- endfor %}
