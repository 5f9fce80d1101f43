{#- flannel enforces no NetworkPolicy (see README). Another provider is a door left
    open in pillar, not a feature yet: say so instead of silently ignoring it. #}
{%- from "addons/map.jinja" import addons with context %}
{%- if addons.network_policy not in addons.network_policy_providers %}

addons-network_policy-check-provider-test-fail_without_changes:
  test.fail_without_changes:
    - comment: >-
        vent:network_policy:provider: {{ addons.network_policy | json }} is not supported
        yet; only {{ addons.network_policy_providers | join(', ') }} (flannel alone, no NetworkPolicy enforcement)

{%- endif %}
