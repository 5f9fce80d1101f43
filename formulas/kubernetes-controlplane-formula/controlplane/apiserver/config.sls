{#- Audit policy, authentication config (anonymous on health paths only) and the
    unit. The encryption config and certificates come from the PKI formula. #}
{%- from "controlplane/map.jinja" import cp with context %}
{%- from "controlplane/macros.jinja" import unit_file, config_file with context %}
{{- config_file(cp, 'apiserver-config', 'audit-policy', 'audit-policy.yaml', 'audit-policy.yaml.jinja') }}
{{- config_file(cp, 'apiserver-config', 'authentication', 'authentication-config.yaml', 'authentication-config.yaml.jinja') }}
{{- unit_file(cp, 'apiserver', 'apiserver-config') }}
