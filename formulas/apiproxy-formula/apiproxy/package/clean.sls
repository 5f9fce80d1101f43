{%- from "apiproxy/map.jinja" import apiproxy with context %}

apiproxy-package-clean-pkg-removed:
  pkg.removed:
    - name: {{ apiproxy.package }}
