{%- from "containerd/map.jinja" import containerd with context %}
{%- if containerd.runc.install == 'package' %}
containerd-runc-clean-pkg-removed:
  pkg.removed:
    - name: {{ containerd.package.runc }}
{%- else %}
containerd-runc-clean-file-absent:
  file.absent:
    - name: {{ containerd.sbin_dir }}/runc
{%- endif %}
