{%- from "apiproxy/map.jinja" import apiproxy with context %}

apiproxy-package-install-pkg-installed:
  pkg.installed:
    - name: {{ apiproxy.package }}
