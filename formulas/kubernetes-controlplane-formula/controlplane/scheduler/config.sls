{#- KubeSchedulerConfiguration (kubeconfig, leader election) and the unit. #}
{%- from "controlplane/map.jinja" import cp with context %}
{%- from "controlplane/macros.jinja" import unit_file, config_file with context %}
{{- config_file(cp, 'scheduler-config', 'scheduler', 'kube-scheduler.yaml', 'kube-scheduler.yaml.jinja') }}
{{- unit_file(cp, 'scheduler', 'scheduler-config') }}
