{%- from "kube_proxy/map.jinja" import kube_proxy with context %}
{%- from "node/macros.jinja" import release_binaries %}
{{ release_binaries('kube-proxy-package-install-kube-proxy', 'kubernetes', 'kube-proxy',
                    kube_proxy.bin_dir, ['kube-proxy']) }}
