{#- Only the unit: its kubeconfig and keys come from the PKI formula. #}
{%- from "controlplane/map.jinja" import cp with context %}
{%- from "controlplane/macros.jinja" import unit_file with context %}
{{- unit_file(cp, 'controller_manager', 'controller_manager-config') }}
