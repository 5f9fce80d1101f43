{#- salt-run state.orchestrate vent — the deploy, in order. Each step requires the one
    before it (the runtime runs beside etcd and the control plane, see
    vent/steps.jinja), so a failed step stops everything after it;
    vent:orchestrate:stop_after ends the run after the named phase. Re-running it on a
    converged cluster changes nothing; after `salt-cloud -p vent-worker worker-2` it
    converges only the new node.
    The phases and their order are the cluster model's (vent_model.PHASES); each is a
    macro of vent/steps.jinja. #}
{%- from "vent/targets.jinja" import t with context %}
{%- import "vent/steps.jinja" as steps with context %}
{%- set prev = namespace(id='', beside='') %}
{%- for phase in t.phases %}
{{ steps[phase](t, prev) }}
{%- endfor %}
