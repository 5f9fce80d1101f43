{#- VXLAN only on the private network: a boot-time rule (a unit, so it survives a
    reboot without Salt) dropping flannel's UDP port on every other address. #}
{%- from "flannel/map.jinja" import flannel with context %}
{%- set rule = '-p udp --dport ' ~ flannel.vxlan_port ~ ' ! -d ' ~ flannel.node_ip
               ~ ' -m comment --comment ' ~ flannel.guard_comment ~ ' -j DROP' %}

flannel-guard-running-unit-file-managed:
  file.managed:
    - name: {{ flannel.unit_dir }}/vent-vxlan-guard.service
    - source: salt://flannel/files/vent-vxlan-guard.service.jinja
    - template: jinja
    - context:
        ctx: {{ {'vxlan_port': flannel.vxlan_port, 'rule': rule, 'comment': flannel.guard_comment} | json }}
    - mode: "0644"

flannel-guard-running-service-running:
  service.running:
    - name: vent-vxlan-guard
    - enable: true
    - root: /  # enabled on disk, without a daemon-reload (docs/architecture.md)
    - watch:
      - file: flannel-guard-running-unit-file-managed
