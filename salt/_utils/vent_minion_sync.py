"""How Vent's extension modules reach a minion: one list for the orchestration's
refresh step (vent_orch.refresh) and for vent.remove_node, which must render the
clean states on a minion that never went through that step."""

# Only the kinds Vent ships to minions (salt/_utils, salt/_modules, salt/_states):
# sync_all walks all 19 kinds, about 10 s a minion on a loaded 2-core host. Utils
# first: the modules use the cluster model through __utils__.
_CALLS = (
    ("saltutil.sync_utils", {"refresh": False}),
    ("saltutil.sync_modules", {"refresh": False}),
    ("saltutil.sync_states", {"refresh": True}),
)


def calls():
    """[(function, kwargs)] to run on a minion, in order."""
    return [(fun, dict(kwarg)) for fun, kwarg in _CALLS]
