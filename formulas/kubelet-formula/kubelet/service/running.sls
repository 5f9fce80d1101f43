{%- from "kubelet/map.jinja" import kubelet with context %}
include:
  - kubelet.package.install
  - kubelet.config.file

{#- The PKI formula writes these (earlier in the same run, or a run before); without
    them kubelet would crash-loop. #}
kubelet-service-running-vent_pki-files_written:
  vent_pki.files_written:
    - name: kubelet
    - paths: {{ [kubelet.kubeconfig, kubelet.ca_cert, kubelet.pki_dir ~ '/kubelet-serving.crt',
                 kubelet.pki_dir ~ '/kubelet-serving.key'] | json }}

kubelet-service-running-file-managed:
  file.managed:
    - name: {{ kubelet.unit_dir }}/kubelet.service
    - source: salt://kubelet/files/kubelet.service.jinja
    - template: jinja
    - mode: '0644'
    - context:
        kubelet: {{ kubelet | json }}
    - require:
      - vent_pki: kubelet-service-running-vent_pki-files_written

{#- A kubelet that finds the API down retries its node's registration after a
    back-off that doubles up to 7 s, and a deploy starts the nodes beside the control
    plane: a node could register up to 7 s after its API answered (2.4 s seen in a lab
    deploy). Started once the API answers through the node's own endpoint, it
    registers at its first attempt. Only when this run starts the kubelet (prereq): a
    running kubelet needs no API to keep running. #}
kubelet-service-running-vent_k8s-api_healthy:
  vent_k8s.api_healthy:
    - name: {{ kubelet.api_url }}
    - ca_file: {{ kubelet.ca_cert }}
    - paths: [/readyz]
    - timeout: {{ kubelet.ready_timeout }}
    - prereq:
      - service: kubelet-service-running-service-running

{#- No daemon-reload of its own: service.running reloads systemd when systemd reports
    the unit changed on disk, and a new unit is loaded when it is started (each reload
    is 0.1 s of a node's CPU). containerd's formula reloads itself: its unit shadows
    Debian's, which systemd would not report. #}
kubelet-service-running-service-running:
  service.running:
    - name: kubelet
    - enable: true
    - root: /  # enabled on disk, without a daemon-reload (docs/architecture.md)
    - watch:
      - file: kubelet-service-running-file-managed
      - sls: kubelet.package.install
      - sls: kubelet.config.file

kubelet-service-running-http-wait_for_successful_query:
  http.wait_for_successful_query:
    - name: http://127.0.0.1:{{ kubelet.healthz_port }}/healthz
    - match: ok
    - status: 200
    - wait_for: {{ kubelet.ready_timeout }}
    - request_interval: 0.5
    - require:
      - service: kubelet-service-running-service-running
