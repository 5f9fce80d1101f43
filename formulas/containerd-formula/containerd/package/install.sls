{%- from "containerd/map.jinja" import containerd with context %}
{%- if containerd.install == 'package' %}
{#- Debian's containerd is whatever the node's release ships (1.6 in Debian 12); the
    pinned Kubernetes decides whether a 1.x may run it. #}
{%-   set offered = salt['pkg.latest_version'](containerd.package.containerd, refresh=False)
                    or salt['pkg.version'](containerd.package.containerd) %}
{%-   set kubernetes = salt['pillar.get']('vent:artifacts:releases:kubernetes:version') %}
{%-   set last = containerd.containerd1_last_kubernetes %}
{%-   set too_new = (kubernetes.split('.')[:2] | map('int') | list) > (last.split('.') | map('int') | list) %}
{%-   if offered and (offered.split(':')[-1].split('.')[0] | int) < 2 and too_new %}
containerd-package-install-test-fail_without_changes:
  test.fail_without_changes:
    - comment: >-
        vent:containerd:install: package would install Debian's containerd
        {{ offered }}, and Kubernetes after {{ last }} needs containerd 2 or later:
        vent:artifacts:releases:kubernetes:version is {{ kubernetes }}. Set
        vent:containerd:install: release (containerd
        {{ salt['pillar.get']('vent:artifacts:releases:containerd:version') }}, pinned in
        vent:artifacts:releases:containerd).
    - failhard: true
{%-   else %}
containerd-package-install-pkg-installed:
  pkg.installed:
    - name: {{ containerd.package.containerd }}
{%-   endif %}
{%- elif containerd.install == 'release' %}
containerd-package-install-containerd-vent_artifact-installed:
  vent_artifact.installed:
    - component: containerd
    - file: containerd
    - bin_dir: {{ containerd.bin_dir }}
    - failhard: true
{%- else %}
containerd-package-install-test-fail_without_changes:
  test.fail_without_changes:
    - comment: "vent:containerd:install: {{ containerd.install }} is neither package nor release"
{%- endif %}
