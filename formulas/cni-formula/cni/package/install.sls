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
{%-   from "node/macros.jinja" import release_binaries %}
{{ release_binaries('cni-package-install-plugins', 'cni_plugins', 'cni-plugins', cni.bin_dir,
                    cni.plugins, unpack_root=cni.unpack_root) }}
{%- else %}
cni-package-install-test-fail_without_changes:
  test.fail_without_changes:
    - comment: "vent:cni:install: {{ cni.install }} is neither package nor release"
{%- endif %}
