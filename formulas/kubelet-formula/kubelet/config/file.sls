{%- from "kubelet/map.jinja" import kubelet with context %}
{%- if not kubelet.node_ip %}
kubelet-config-file-test-fail_without_changes:
  test.fail_without_changes:
    - comment: >-
        no private IP for {{ grains['id'] }}: set grain vent:private_ip or pillar
        vent:network:private_interface / vent:network:private_interface_regex
{%- else %}
{%-   set config = {
        'apiVersion': 'kubelet.config.k8s.io/v1beta1',
        'kind': 'KubeletConfiguration',
        'address': kubelet.node_ip,
        'port': kubelet.port,
        'readOnlyPort': 0,
        'healthzBindAddress': '127.0.0.1',
        'healthzPort': kubelet.healthz_port,
        'authentication': {
          'anonymous': {'enabled': false},
          'webhook': {'enabled': true},
          'x509': {'clientCAFile': kubelet.ca_cert},
        },
        'authorization': {'mode': 'Webhook'},
        'tlsCertFile': kubelet.pki_dir ~ '/kubelet-serving.crt',
        'tlsPrivateKeyFile': kubelet.pki_dir ~ '/kubelet-serving.key',
        'tlsMinVersion': 'VersionTLS12',
        'rotateCertificates': false,
        'serverTLSBootstrap': false,
        'clusterDNS': [kubelet.dns_ip],
        'clusterDomain': kubelet.cluster_domain,
        'cgroupDriver': kubelet.cgroup_driver,
        'containerRuntimeEndpoint': kubelet.runtime_endpoint,
        'resolvConf': kubelet.resolv_conf,
        'failSwapOn': kubelet.fail_swap_on,
        'registerNode': true,
        'registerWithTaints': kubelet.taints,
      } %}
{#- vent:kubernetes:kubelet_config wins: fields set there replace ours. #}
{%-   set config = salt['vent_cluster.merge'](config, kubelet.overrides) %}
kubelet-config-file-file-serialize:
  file.serialize:
    - name: {{ kubelet.config_file }}
    - dataset: {{ config | json }}
    - serializer: yaml
    - makedirs: true
    - mode: '0644'
{%- endif %}
