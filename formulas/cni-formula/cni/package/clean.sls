{%- from "cni/map.jinja" import cni with context %}
{%- for plugin in cni.plugins %}
cni-package-clean-{{ plugin }}-file-absent:
  file.absent:
    - name: {{ cni.bin_dir }}/{{ plugin }}
{%- endfor %}

cni-package-clean-unpacked-file-absent:
  file.absent:
    - name: {{ cni.unpack_root }}/cni_plugins
{%- if cni.install == 'package' %}

cni-package-clean-pkg-removed:
  pkg.removed:
    - name: {{ cni.package.name }}
{%- endif %}
