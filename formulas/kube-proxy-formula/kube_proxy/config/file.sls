{%- from "kube_proxy/map.jinja" import kube_proxy with context %}
{%- if kube_proxy.mode not in kube_proxy.modes %}
kube-proxy-config-file-test-fail_without_changes:
  test.fail_without_changes:
    - comment: >-
        vent:kubernetes:kube_proxy_mode: {{ kube_proxy.mode }} is not one of
        {{ kube_proxy.modes | join(', ') }}
{%- elif not kube_proxy.node_ip %}
kube-proxy-config-file-test-fail_without_changes:
  test.fail_without_changes:
    - comment: >-
        no private IP for {{ grains['id'] }}: set grain vent:private_ip or pillar
        vent:network:private_interface / vent:network:private_interface_regex
{%- else %}
{%-   set config = {
        'apiVersion': 'kubeproxy.config.k8s.io/v1alpha1',
        'kind': 'KubeProxyConfiguration',
        'clientConnection': {'kubeconfig': kube_proxy.kubeconfig},
        'hostnameOverride': kube_proxy.hostname,
        'mode': kube_proxy.mode,
        'clusterCIDR': kube_proxy.cluster_cidr,
        'metricsBindAddress': '127.0.0.1:' ~ kube_proxy.metrics_port,
        'healthzBindAddress': kube_proxy.node_ip ~ ':' ~ kube_proxy.healthz_port,
        'nodePortAddresses': [kube_proxy.node_ip ~ '/32'],
      } %}
{#- NodePorts on the private address only: unset, kube-proxy serves them on every
    address in iptables and ipvs mode, the public one included, and the API is the one
    public listener. #}
{%-   if kube_proxy.mode == 'ipvs' %}
{#- kube-proxy's ipvs mode needs strict ARP for the addresses it binds to kube-ipvs0. #}
{%-     do config.update({'ipvs': {'strictARP': true} }) %}
{%-   endif %}
{#- vent:kubernetes:kube_proxy_config wins: fields set there replace ours. #}
{%-   set config = salt['vent_cluster.merge'](config, kube_proxy.overrides) %}
kube-proxy-config-file-file-serialize:
  file.serialize:
    - name: {{ kube_proxy.config_file }}
    - dataset: {{ config | json }}
    - serializer: yaml
    - makedirs: true
    - mode: '0644'
{%- endif %}
