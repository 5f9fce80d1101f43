{#- The reverse of init.sls, where init.sls installed something: on a controller it
    installs nothing, and a haproxy there is the operator's, not Vent's to remove. #}
{%- from "apiproxy/map.jinja" import apiproxy with context %}
{%- if apiproxy.wanted %}
include:
  - apiproxy.service.clean
  - apiproxy.config.clean
  - apiproxy.package.clean
{%- else %}
apiproxy-clean-test-nop:
  test.nop:
    - name: a controller gets no API proxy from Vent; nothing to take back
{%- endif %}
