{%- from "node/map.jinja" import node with context %}
{%- set conf = node.sysctl_dir ~ '/' ~ node.sysctl_file %}
include:
  - node.modules.load

# Persisted for boot; applied now below.
node-sysctl-file-file-managed:
  file.managed:
    - name: {{ conf }}
    - makedirs: true
    - mode: '0644'
    - contents: |
        # Managed by Salt (node formula): bridged pod traffic through iptables, routing.
        {%- for key, value in node.sysctl | dictsort if value is not none %}
        {{ key }} = {{ value }}
        {%- endfor %}
{%- for key, value in node.sysctl | dictsort if value is not none %}
{%-   set current = salt['sysctl.get'](key) %}
{%-   if current | string == value | string %}

node-sysctl-file-{{ key }}-test-succeed_without_changes:
  test.succeed_without_changes:
    - comment: {{ key }} is {{ value }}
{%-   else %}

node-sysctl-file-{{ key }}-cmd-run:
  cmd.run:
    - name: sysctl -w {{ key }}={{ value }}
    - unless: test "$(sysctl -n {{ key }})" = "{{ value }}"
    - require:
      - sls: node.modules.load
{%-     if node.in_container %}

node-sysctl-file-{{ key }}-test-fail_without_changes:
  test.fail_without_changes:
    - comment: >-
        {{ key }} could not be set to {{ value }} inside this {{ node.container_kind }}
        container (is {{ current or 'absent' }}); set it on the host
    - onfail:
      - cmd: node-sysctl-file-{{ key }}-cmd-run
{%-     endif %}
{%-   endif %}
{%- endfor %}
