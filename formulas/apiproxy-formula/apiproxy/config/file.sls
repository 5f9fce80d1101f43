{%- from "apiproxy/map.jinja" import apiproxy with context %}
{%- if not apiproxy.backends %}

apiproxy-config-file-test-fail_without_changes:
  test.fail_without_changes:
    - comment: >-
        no controller with a private address in the mine (mine function vent_node); run
        `salt '*' mine.update` once the controllers are up
{%- else %}

apiproxy-config-file-file-managed:
  file.managed:
    - name: {{ apiproxy.config_file }}
    - source: salt://apiproxy/files/haproxy.cfg.jinja
    - template: jinja
    - context:
        ctx: {{ apiproxy | json }}
    - mode: "0644"
    - makedirs: true
    - check_cmd: haproxy -c -f
{%- endif %}
