{%- from "cni/map.jinja" import cni with context %}
{%- if cni.install == 'package' %}
{%-   for plugin in cni.plugins %}

cni-package-clean-{{ plugin }}-file-absent:
  file.absent:
    - name: {{ cni.bin_dir }}/{{ plugin }}
{%-   endfor %}

cni-package-clean-pkg-removed:
  pkg.removed:
    - name: {{ cni.package.name }}
{%- else %}

cni-package-clean-plugins-vent_artifact-removed:
  vent_artifact.removed:
    - component: cni_plugins
    - file: cni-plugins
    - bin_dir: {{ cni.bin_dir }}
    - members: {{ cni.plugins | json }}
{%- endif %}
