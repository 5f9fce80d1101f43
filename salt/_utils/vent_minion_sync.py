"""How Vent's extension modules reach a minion: one job for the orchestration's
refresh step (vent_orch.refresh) and for vent.remove_node, which must render the
clean states on a minion that never went through that step."""

# Only the kinds Vent ships to minions (salt/_utils, salt/_modules, salt/_states):
# sync_all walks all 19 kinds, about 10 s a minion on a loaded 2-core host. Utils
# first: the modules use the cluster model through __utils__. The pillar refresh comes
# last, so the mine functions it names run the synced code on the next job.
_CALLS = (
    ("saltutil.sync_utils", {"refresh": False}),
    ("saltutil.sync_modules", {"refresh": False}),
    ("saltutil.sync_states", {"refresh": True}),
    ("saltutil.refresh_pillar", {"wait": True}),
)


def job():
    """``(functions, args)`` of one multi-function job: the minion runs the calls in
    order in one process, one round trip to the master instead of one per call."""
    return ([fun for fun, _ in _CALLS],
            [[{**kwarg, "__kwarg__": True}] for _, kwarg in _CALLS])
