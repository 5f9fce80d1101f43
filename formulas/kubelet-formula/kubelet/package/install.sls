{%- from "kubelet/map.jinja" import kubelet with context %}
{%- from "node/macros.jinja" import release_binaries %}
{{ release_binaries('kubelet-package-install-kubelet', 'kubernetes', 'kubelet', kubelet.bin_dir,
                    ['kubelet']) }}
