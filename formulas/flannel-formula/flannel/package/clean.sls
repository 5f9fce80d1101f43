{%- from "flannel/map.jinja" import flannel with context %}

flannel-package-clean-cni-plugin-vent_artifact-removed:
  vent_artifact.removed:
    - component: {{ flannel.cni_plugin_release }}
    - file: {{ flannel.cni_plugin_file }}
    - bin_dir: {{ flannel.cni_bin_dir }}
    - members: [{{ flannel.cni_plugin_name }}]
