{#- Between the pods' removal and containerd's stop (containerd.service.clean): an
    image a pod still uses cannot be removed, and without containerd nothing can. #}
{%- from "containerd/map.jinja" import containerd with context %}
{%- set crictl = containerd.bin_dir ~ '/crictl --runtime-endpoint unix://' ~ containerd.socket
                 ~ ' --timeout ' ~ containerd.crictl_clean_timeout %}
include:
  - containerd.service.clean
{%- for component, image in containerd.node_images %}

containerd-images-clean-{{ component }}-cmd-run:
  cmd.run:
    - name: {{ crictl }} rmi {{ image }}
    - onlyif: {{ crictl }} inspecti --quiet {{ image }}
    - require:
      - cmd: containerd-service-clean-pods-cmd-run
    - require_in:
      - service: containerd-service-clean-service-dead
{%- endfor %}
