{%- from "cni/map.jinja" import cni with context %}
{%- if cni.install == 'package' %}
cni-package-install-pkg-installed:
  pkg.installed:
    - name: {{ cni.package.name }}
{%-   for plugin in cni.plugins %}

cni-package-install-{{ plugin }}-file-symlink:
  file.symlink:
    - name: {{ cni.bin_dir }}/{{ plugin }}
    - target: {{ cni.package.dir }}/{{ plugin }}
    - makedirs: true
    - force: true
    - require:
      - pkg: cni-package-install-pkg-installed
{%-   endfor %}
{%- elif cni.install == 'release' %}
cni-package-install-plugins-vent_artifact-installed:
  vent_artifact.installed:
    - component: cni_plugins
    - file: cni-plugins
    - bin_dir: {{ cni.bin_dir }}
    - members: {{ cni.plugins | json }}
    - failhard: true
{%- else %}
cni-package-install-test-fail_without_changes:
  test.fail_without_changes:
    - comment: "vent:cni:install: {{ cni.install }} is neither package nor release"
{%- endif %}
