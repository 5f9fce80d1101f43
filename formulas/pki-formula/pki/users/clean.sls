{#- Every service user Vent makes, not only those of the node's roles today: a node
    whose roles changed is cleaned of the users it had. #}
{%- from "pki/map.jinja" import pki with context %}
{%- for user in pki.all_users %}
pki-users-clean-{{ user }}-user-absent:
  user.absent:
    - name: {{ user }}
{%- endfor %}
