{%- from "containerd/map.jinja" import containerd with context %}
{%- if containerd.cgroup_driver not in containerd.cgroup_drivers %}
containerd-config-file-test-fail_without_changes:
  test.fail_without_changes:
    - comment: >-
        vent:containerd:cgroup_driver: {{ containerd.cgroup_driver }} is not one of
        {{ containerd.cgroup_drivers | join(', ') }}
{%- else %}
containerd-config-file-file-managed:
  file.managed:
    - name: {{ containerd.config_file }}
    - source: salt://containerd/files/config.toml.jinja
    - template: jinja
    - makedirs: true
    - mode: '0644'
    - context:
        containerd: {{ containerd | json }}

{#- runsc's own flags: needed only to use systemd's cgroups (see files/runsc.toml). #}
{%-   if containerd.gvisor.enabled and containerd.cgroup_driver == 'systemd' %}

containerd-config-file-runsc-file-managed:
  file.managed:
    - name: {{ containerd.runsc_config_file }}
    - source: salt://containerd/files/runsc.toml
    - makedirs: true
    - mode: '0644'
{%-   else %}

containerd-config-file-runsc-file-absent:
  file.absent:
    - name: {{ containerd.runsc_config_file }}
{%-   endif %}

{#- One hosts.toml per registry (containerd's config_path layout), the replacement of
    the deprecated registry.mirrors table. #}
{%-   for host, endpoints in containerd.registry_mirrors | dictsort %}

containerd-config-file-{{ host }}-file-managed:
  file.managed:
    - name: {{ containerd.hosts_dir }}/{{ host }}/hosts.toml
    - source: salt://containerd/files/hosts.toml.jinja
    - template: jinja
    - makedirs: true
    - mode: '0644'
    - context:
        host: {{ host | json }}
        endpoints: {{ endpoints | json }}
{%-   endfor %}

{#- A registry dropped from pillar stops being mirrored. #}
containerd-config-file-hosts-file-directory:
  file.directory:
    - name: {{ containerd.hosts_dir }}
    - clean: true
    - require:
{%-   for host in containerd.registry_mirrors | sort %}
      - file: containerd-config-file-{{ host }}-file-managed
{%-   else %}
      - file: containerd-config-file-file-managed
{%-   endfor %}
{%- endif %}
