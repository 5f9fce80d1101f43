{#- flannel's CNI plugin, installed from its pinned release file (an archive whose
    `flannel` member is the plugin) under the name CNI looks up ("type": "flannel"). #}
{%- from "flannel/map.jinja" import flannel with context %}

flannel-package-install-cni-plugin-vent_artifact-installed:
  vent_artifact.installed:
    - component: {{ flannel.cni_plugin_release }}
    - file: {{ flannel.cni_plugin_file }}
    - bin_dir: {{ flannel.cni_bin_dir }}
    - members: [{{ flannel.cni_plugin_name }}]
