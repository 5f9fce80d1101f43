{%- from "node/map.jinja" import node with context %}
{%- if node.in_container %}
# A container shares the host's clock and cannot set it.
node-timesync-running-test-succeed_without_changes:
  test.succeed_without_changes:
    - comment: >-
        time sync left to the host: this node is a {{ node.container_kind }} container
{%- elif node.time_sync not in node.time_packages %}
node-timesync-running-test-fail_without_changes:
  test.fail_without_changes:
    - comment: >-
        vent:node:time_sync: {{ node.time_sync }} is not one of
        {{ node.time_packages | list | join(', ') }}
{%- else %}
node-timesync-running-pkg-installed:
  pkg.installed:
    - name: {{ node.time_packages[node.time_sync] }}

node-timesync-running-service-running:
  service.running:
    - name: {{ node.time_services[node.time_sync] }}
    - enable: true
    - require:
      - pkg: node-timesync-running-pkg-installed
{%- endif %}
