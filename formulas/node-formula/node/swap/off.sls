{%- from "node/map.jinja" import node with context %}
{%- if node.swap_off %}
# kubelet's failSwapOn: swap must be off now and stay off after a reboot.
node-swap-off-cmd-run:
  cmd.run:
    - name: swapoff -a
    - onlyif: test -n "$(swapon --show --noheadings 2>/dev/null)"

node-swap-off-file-replace:
  file.replace:
    - name: {{ node.fstab }}
    - pattern: '^([^#\s]\S*\s+\S+\s+swap\s.*)$'
    - repl: '# \1  # disabled by Salt (node formula): kubelet needs swap off'
    - ignore_if_missing: true
{%- else %}
node-swap-off-test-nop:
  test.nop: []
{%- endif %}
