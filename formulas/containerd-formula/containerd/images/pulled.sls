{#- The images a node's first pods run (vent_model.NODE_IMAGES: the pod sandbox and
    flannel's DaemonSet), pulled through the CRI as the kubelet pulls them. The runtime
    step gets here while the control plane is still starting, so flannel's pod starts
    as the node registers instead of after its pull; a registry that cannot serve them
    fails here, naming the image, instead of leaving a pod in ImagePullBackOff. #}
{%- from "containerd/map.jinja" import containerd with context %}
{%- set crictl = containerd.bin_dir ~ '/crictl --runtime-endpoint unix://' ~ containerd.socket %}
include:
  - containerd.crictl.install
  - containerd.service.running
{%- for component, image in containerd.node_images %}

containerd-images-pulled-{{ component }}-cmd-run:
  cmd.run:
    - name: {{ crictl }} pull --pull-timeout {{ containerd.image_pull_timeout }} {{ image }}
    - unless: {{ crictl }} inspecti --quiet {{ image }}
    - require:
      - sls: containerd.crictl.install
      - sls: containerd.service.running
{%- endfor %}
