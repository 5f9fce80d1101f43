{%- from "node/map.jinja" import node with context %}
{%- set conf = node.modules_load_dir ~ '/' ~ node.modules_load_file %}
# Loaded again at every boot by systemd-modules-load.
node-modules-load-file-managed:
  file.managed:
    - name: {{ conf }}
    - makedirs: true
    - mode: '0644'
    - contents: |
        # Managed by Salt (node formula): modules kubelet, containerd and kube-proxy need.
        {%- for mod in node.modules %}
        {{ mod }}
        {%- endfor %}
{#- A container sees no /sys/module: a filesystem module shows in /proc/filesystems. #}
{%- set filesystems = salt['file.read']('/proc/filesystems').split() %}
{%- for mod in node.modules %}
{#- /sys/module/<name> exists for a loaded module and for one built into the kernel. #}
{%-   set present = salt['file.directory_exists']('/sys/module/' ~ mod)
                    or salt['file.directory_exists'](node.module_probes.get(mod, '/nonexistent'))
                    or mod in node.module_filesystems and mod in filesystems %}
{%-   if present and node.no_modprobe %}

node-modules-load-{{ mod }}-test-succeed_without_changes:
  test.succeed_without_changes:
    - comment: >-
        WARNING: kernel module {{ mod }} is available (loaded or built in) but
        {{ node.no_modprobe }}: loading it at boot is the host's job
{%-   elif present %}

node-modules-load-{{ mod }}-test-succeed_without_changes:
  test.succeed_without_changes:
    - comment: kernel module {{ mod }} is loaded or built in
{%-   elif node.no_modprobe %}

node-modules-load-{{ mod }}-test-fail_without_changes:
  test.fail_without_changes:
    - comment: >-
        kernel module {{ mod }} is not available and cannot be loaded here:
        {{ node.no_modprobe }}; run `modprobe {{ mod }}` on the host (and add it to
        the host's /etc/modules-load.d)
{%-   else %}

node-modules-load-{{ mod }}-kmod-present:
  kmod.present:
    - name: {{ mod }}
{%-   endif %}
{%- endfor %}
