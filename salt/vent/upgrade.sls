{#- salt-run state.orchestrate vent.upgrade, with pillar vent:upgrade:to the target
    version (docs/day2.md).

    Moves the cluster to the Kubernetes release pinned in pillar
    (vent:artifacts:releases:kubernetes: version and checksums; the operator changes
    them first), one minor at a time as Kubernetes supports: the control plane first,
    one controller at a time with its /readyz before the next, then the kubelet nodes
    in batches of vent:orchestrate:worker_batch, each batch drained before and
    uncordoned after (kubectl on the CA controller). Every check below runs while
    this file renders, so a refused upgrade has changed nothing. #}
{%- from "vent/targets.jinja" import t with context %}
{%- import "vent/steps.jinja" as steps with context %}
{%- set key = 'vent:upgrade:to' %}
{%- set pinned_key = 'vent:artifacts:releases:kubernetes:version' %}
{%- set to = salt['pillar.get'](key) %}
{%- set pinned = salt['pillar.get'](pinned_key) | string %}
{%- if to is none or to == '' %}
{{- raise(key ~ ': missing; pass the target version, e.g. "1.33", as pillar ' ~ key ~ ' (docs/day2.md)') }}
{%- elif to is not string %}
{{- raise(key ~ ': ' ~ to ~ ' is not a string; quote it ("1.30" as a number reads 1.3)') }}
{%- endif %}

{#- major.minor[.patch|.x] as numbers, or none. #}
{%- macro parse(version) %}
{%-   set parts = version.lstrip('v').split('-')[0].split('.') %}
{%-   if parts | length in [2, 3] and parts[0].isdigit() and parts[1].isdigit() %}
{{- parts[0] | int }} {{ parts[1] | int }}
{%-   endif %}
{%- endmacro %}
{%- set want = parse(to).split() | map('int') | list %}
{%- set have_pinned = parse(pinned).split() | map('int') | list %}
{%- if not want %}
{{- raise(key ~ ': ' ~ to ~ ' is not a version; use <major>.<minor>, <major>.<minor>.<patch> or <major>.<minor>.x') }}
{%- endif %}
{%- set patch = to.split('.')[2] if to.split('.') | length == 3 else 'x' %}
{%- if want != have_pinned or (patch != 'x' and to != pinned) %}
{{- raise(key ~ ': ' ~ to ~ ' but ' ~ pinned_key ~ ' is ' ~ pinned ~ '; put the new version and its'
          ~ ' checksums in pillar (pillar/vent/artifacts.sls or site pillar) first') }}
{%- endif %}

{#- What the controllers run now: the kubectl the control-plane formula installs with
    the server binaries, from the same release. #}
{%- set bin_dir = salt['vent_cluster.paths']().bin %}
{%- if not t.controller_ids %}
{{- raise(key ~ ': no minion with the controller role; nothing to upgrade') }}
{%- endif %}
{%- set answers = salt['saltutil.cmd'](t.controller_ids | join(','), 'cmd.run_all',
      arg=[bin_dir ~ '/kubectl version --client -o json'], tgt_type='list', full_return=True,
      timeout=30) or {} %}
{%- set running = {} %}
{%- for controller in t.controller_ids %}
{%-   set ret = (answers.get(controller) or {}).get('ret') %}
{%-   if ret is not mapping or ret.get('retcode') != 0 %}
{%-     set why = (ret.get('stderr') if ret is mapping else ret) or 'no answer' %}
{{- raise(key ~ ': cannot read the running version on ' ~ controller ~ ' (' ~ bin_dir
          ~ '/kubectl, vent:kubernetes:dirs:bin): ' ~ why | string | truncate(200)) }}
{%-   endif %}
{%-   set git = (ret.stdout | load_json).get('clientVersion', {}).get('gitVersion', '') %}
{%-   set version = parse(git).split() | map('int') | list %}
{%-   if not version %}
{{- raise(key ~ ': cannot read the running version on ' ~ controller ~ ': ' ~ bin_dir ~ '/kubectl reports ' ~ (git or 'no gitVersion')) }}
{%-   endif %}
{%-   do running.update({controller: version}) %}
{%- endfor %}
{%- set lowest = running.values() | list | min %}
{%- set highest = running.values() | list | max %}
{%- set listed = [] %}
{%- for controller, version in running | dictsort %}
{%-   do listed.append(controller ~ ' ' ~ version | join('.')) %}
{%- endfor %}
{%- set versions = listed | join(', ') %}
{%- if want[0] != lowest[0] or want[0] != highest[0] %}
{{- raise(key ~ ': ' ~ to ~ ' changes the major version of the running ' ~ versions ~ '; not supported') }}
{%- elif want < highest %}
{{- raise(key ~ ': ' ~ to ~ ' is older than the running ' ~ highest | join('.') ~ ' (' ~ versions ~ '); downgrades are not supported') }}
{%- elif want[1] > lowest[1] + 1 %}
{{- raise(key ~ ': ' ~ to ~ ' skips a minor: the control plane runs ' ~ lowest | join('.') ~ ' ('
          ~ versions ~ '); upgrade to ' ~ lowest[0] ~ '.' ~ (lowest[1] + 1) ~ ' first') }}
{%- endif %}
{%- set prev = namespace(id='vent-upgrade-refresh') %}

vent-upgrade-refresh:
  vent_orch.refresh:
    - tgt: {{ t.all }}
    - tgt_type: compound

vent-upgrade-validate:
  vent_orch.check:
    - minion_id: {{ t.ca_id }}
    - require:
      - vent-upgrade-refresh
{{ steps.artifacts('vent-upgrade-controlplane-artifacts', t.controllers, t.artifacts.controlplane,
                   'vent-upgrade-validate') }}
{%- set prev.id = 'vent-upgrade-controlplane-artifacts' %}

{%- for controller in t.controller_ids %}
{{ steps.apply('vent-upgrade-controlplane-' ~ controller, 'L@' ~ controller, 'controlplane', prev.id) }}
{{ steps.apply('vent-upgrade-readyz-' ~ controller, 'L@' ~ controller, 'controlplane.health',
               'vent-upgrade-controlplane-' ~ controller) }}
{%-   set prev.id = 'vent-upgrade-readyz-' ~ controller %}
{%- endfor %}

{%- if t.compute_ids %}
{{ steps.artifacts('vent-upgrade-workers-artifacts', t.compute, t.artifacts.workers, prev.id) }}
{%-   set prev.id = 'vent-upgrade-workers-artifacts' %}
{%- endif %}

{%- for batch in t.compute_ids | batch(t.worker_batch or t.compute_ids | length or 1) %}
{%-   set n = loop.index %}
{%-   set day2 = dict(vent_day2=dict(nodes=batch)) %}
{{ steps.apply('vent-upgrade-drain-' ~ n, t.ca, 'controlplane.nodes.drain', prev.id, pillar=day2) }}
{{ steps.worker_stack('vent-upgrade-workers-' ~ n, 'L@' ~ batch | join(','), 'vent-upgrade-drain-' ~ n) }}
{{ steps.apply('vent-upgrade-uncordon-' ~ n, t.ca, 'controlplane.nodes.uncordon', 'vent-upgrade-workers-' ~ n, pillar=day2) }}
{%-   set prev.id = 'vent-upgrade-uncordon-' ~ n %}
{%- endfor %}
