"""Steps of the ``vent`` orchestrations (salt/vent/*.sls); they run on the master.

Salt's ``salt.function`` and ``salt.runner`` always report changes, so a second run of
a converged cluster would never read "0 changed". These steps report changes only
when something changed, fail with a comment naming the minions and their error, say
plainly when a step does not run and why, and print which step runs while it runs.
"""

from __future__ import annotations

import logging

import salt.fileserver
import salt.loader
import salt.utils.minions
import salt.utils.state

try:  # saltext-vent: Salt's loader gives an extension's modules no __utils__ (README)
    from saltext.vent import util as _packaged_util
except ImportError:  # this checkout's *_dirs, or the modules synced from it
    _packaged_util = None


def _util(name):
    """``vent_<module>.<function>``: the package's when installed, else the loader's."""
    return _packaged_util(name, __opts__) if _packaged_util else __utils__[name]


log = logging.getLogger(__name__)

__virtualname__ = "vent_orch"


def __virtual__():
    if __opts__.get("__role") == "master":  # the orchestration's salt-run, not a minion
        _util("vent_ops.quiet_cli_leaks")()
    return __virtualname__


def _progress(text):
    # salt-run prints warnings to the console: the operator sees which step runs.
    log.warning("vent: %s", text)


def _ret(name, result=True, comment="", changes=None):
    return {"name": name, "result": result, "comment": comment, "changes": changes or {}}


def _expected(tgt, tgt_type):
    found = salt.utils.minions.CkMinions(__opts__).check_minions(tgt, tgt_type)
    return sorted(found.get("minions", []))


def _error_text(value):
    text = value if isinstance(value, str) else repr(value)
    return text.strip().splitlines()[-1] if text.strip() else "no output"


def _call(tgt, fun, arg=None, kwarg=None, tgt_type="compound", timeout=None, may_fail=()):
    """Run ``fun`` on the minions: ``({minion: return}, {minion: error})``. The
    functions ``may_fail`` of a multi-function job leave their answer, even an error,
    to the caller."""
    expected = _expected(tgt, tgt_type)
    raw = _util("vent_ops.job")(expected, fun, list(arg or []), kwarg, timeout=timeout)
    good, bad = {}, {}
    for minion in expected:
        data = raw.get(minion)
        if data is None:
            bad[minion] = "did not return (minion down or not reachable)"
        elif failed := [f for f in _util("vent_ops.failed")(data["retcode"]) if f not in may_fail]:
            ret = data["ret"]
            bad[minion] = "; ".join(
                f"{part}: {_error_text(ret.get(part))}" if isinstance(ret, dict) and part in ret
                else _error_text(ret) for part in failed)
        else:
            good[minion] = data["ret"]
    return good, bad


def _runner(fun, **kwargs):
    """The master's runner function ``fun`` called in this process, its return or, when
    it raised, a line saying so. (``saltutil.runner`` builds a RunnerClient and a
    MasterMinion for each call and loads every runner module: 0.2 core-seconds beside
    the runner's own work, on the orchestration's path.)"""
    runners = salt.loader.runner(__opts__, utils=salt.loader.utils(__opts__))
    try:
        return runners[fun](**kwargs)
    except Exception as exc:  # the step reports it, as it did saltutil.runner's
        return f"{fun} raised {type(exc).__name__}: {exc}"


def _failed_comment(what, bad):
    return f"{what} failed on {', '.join(sorted(bad))}: " + "; ".join(
        f"{m}: {why}" for m, why in sorted(bad.items())
    )


def refresh(name, tgt="*", tgt_type="glob", timeout=None):
    """Sync custom modules where a minion's differ from the master's, refresh pillar
    (it holds the mine functions), then update the mine. Changes: the modules that
    were synced, if any."""
    _progress(f"{name}: sync modules, refresh pillar, update mine")
    shipped = _util("vent_minion_sync.shipped")(__opts__)
    stale, changes = (tgt, tgt_type), {}
    if shipped is not None:
        fun, arg = _util("vent_minion_sync.check_job")()
        good, bad = _call(tgt, fun, arg, tgt_type=tgt_type, timeout=timeout, may_fail=fun[:1])
        if bad:
            return _ret(name, False, _failed_comment("pillar refresh", bad))
        if not good:
            return _ret(name, False, f"pillar refresh: no minion matches {tgt}")
        behind = sorted(m for m, rets in good.items() if rets.get(fun[0]) != shipped)
        stale = ("L@" + ",".join(behind), "compound") if behind else None
    if stale:
        # A minion's sync lists the master's files through the fileserver, which keeps
        # its lists for fileserver_list_cache_time (20 s): a module added within that
        # time of the last listing would be left out, and the states using it fail.
        salt.fileserver.Fileserver(__opts__).clear_file_list_cache({"saltenv": None})
    # The mine update needs a job of its own: a job's process keeps the pillar it was
    # forked with, and the mine functions read the refreshed one.
    sync = _util("vent_minion_sync.job")(pillar=shipped is None)  # else the check job refreshed it
    steps = [("sync and pillar refresh", *sync, stale)] if stale else []
    steps.append(("mine.update", "vent_cluster.mine_update", [], (tgt, tgt_type)))
    for what, fun, arg, (where, where_type) in steps:
        good, bad = _call(where, fun, arg, tgt_type=where_type, timeout=timeout)
        if bad:
            return _ret(name, False, _failed_comment(what, bad))
        if not good:
            return _ret(name, False, f"{what}: no minion matches {where}")
        for minion, rets in good.items() if isinstance(fun, list) else ():
            for kind_fun, synced in rets.items():
                if kind_fun.startswith("saltutil.sync_") and synced:
                    changes.setdefault(minion, {})[kind_fun.rsplit("_", 1)[1]] = synced
    comment = f"refreshed {len(good)} minion(s)"
    return _ret(name, True, comment, {"synced": changes} if changes else {})


def check(name, minion_id=None):
    """The pillar and node validation of ``salt-run vent.validate``; fails with its
    error lines."""
    _progress(f"{name}: validate pillar and nodes")
    result = _runner("vent.validation", minion_id=minion_id)
    if not isinstance(result, dict) or "errors" not in result:
        return _ret(name, False, f"vent.validation returned no result: {result!r}")
    lines = [f"ERROR {e}" for e in result["errors"]] + [f"WARNING {w}" for w in result["warnings"]]
    if result["errors"]:
        return _ret(name, False, "\n".join(lines))
    return _ret(name, True, "\n".join(lines + ["pillar and nodes valid"]))


def call(name, tgt, function, arg=None, kwarg=None, tgt_type="compound", timeout=None):
    """Run a read-only check ``function`` on the targets; fails naming each minion
    whose call failed and its error. Reports no changes: it changes nothing.
    (``fun`` cannot be an argument name: the state system uses it.)"""
    _progress(f"{name}: {function} on {tgt}")
    good, bad = _call(tgt, function, arg, kwarg, tgt_type, timeout)
    if bad:
        return _ret(name, False, _failed_comment(function, bad))
    if not good:
        return _ret(name, False, f"{function}: no minion matches {tgt}")
    return _ret(name, True, f"{function} passed on {', '.join(sorted(good))}")


def artifacts(name, tgt, files, tgt_type="compound", timeout=None):
    """Check up front that the release files the next steps install can be had.

    ``files`` is a list of ``[component, file]`` every target needs, or
    ``{minion: [[component, file], ...]}``. Each target answers with
    ``vent_cluster.artifacts_missing`` (the wording every formula uses); a file that
    cannot be had fails the step with "not run: missing artifact ...", so its
    dependents are reported as not run instead of failing one by one deep inside a
    formula."""
    _progress(f"{name}: release files on {tgt}")
    kwarg = {"by_minion": files} if isinstance(files, dict) else {"files": files}
    answers, bad = _call(tgt, "vent_cluster.artifacts_missing", kwarg=kwarg, tgt_type=tgt_type,
                         timeout=timeout)
    if bad:
        return _ret(name, False, _failed_comment("vent_cluster.artifacts_missing", bad))
    missing = {}
    for minion, messages in sorted(answers.items()):
        for message in messages or []:
            missing.setdefault(message, []).append(minion)
    if missing:
        text = "; ".join(f"{what} on {', '.join(ms)}" for what, ms in sorted(missing.items()))
        return _ret(name, False, f"not run: {text}")
    count = len({tuple(f) for fs in files.values() for f in fs}) if isinstance(files, dict) else len(files)
    return _ret(name, True, f"{count} release file(s) available on {len(answers)} minion(s)")


def apply(name, tgt, sls, tgt_type="compound", **kwargs):
    """``salt.state`` with progress lines, and a plain "not run" when no minion
    matches (``salt.state`` would fail with "No minions returned"). Without batches it
    is ``_state_run``: the same job and return, waited for on the event bus
    (docs/upstream/salt-localclient-poll.md)."""
    expected = _expected(tgt, tgt_type)
    if not expected:
        return _ret(name, True, f"not run: no minion matches {tgt}")
    batch = kwargs.get("batch")
    _progress(
        f"{name}: {', '.join(sls) if isinstance(sls, list) else sls} on {', '.join(expected)}"
        + (f" (batches of {batch})" if batch else "")
    )
    # Steps that run beside each other may land on the same minion (the runtime and
    # etcd on a controller that runs pods): there the later one waits its turn instead
    # of failing with "The function state.sls is running".
    if batch or set(kwargs) - {"pillar"}:
        ret = __states__["salt.state"](name=name, tgt=tgt, sls=sls, tgt_type=tgt_type, queue=True, **kwargs)
    else:
        ret = _state_run(name, expected, sls, kwargs.get("pillar"))
    state = "done" if ret.get("result") else "FAILED"
    _progress(f"{name}: {state}")
    return ret


def _state_run(name, minions, sls, pillar=None):
    """``salt.state``'s run of ``sls`` on ``minions`` and its return (the same result,
    comment and ``changes: {out: highstate, ret: {minion: states}}``, for the minions
    that changed or failed), waited for on the event bus (vent_ops.job_returns)."""
    kwarg = {"queue": True, "concurrent": False}
    if pillar:
        kwarg["pillar"] = pillar
    if __opts__.get("test"):
        kwarg["test"] = True
    mods = ",".join(sls) if isinstance(sls, list) else sls
    returns = _util("vent_ops.job")(minions, "state.sls", [mods], kwarg)
    changed, unchanged, failed, details = {}, [], [], []
    for minion in minions:
        if minion not in returns:
            failed.append(minion)
            changed[minion] = "did not return (minion down or not reachable)"
            details.append(f"{minion}: {changed[minion]}")
            continue
        states = returns[minion]["ret"]
        if not salt.utils.state.check_result(states, recurse=True):
            failed.append(minion)
            changed[minion] = states
            if not isinstance(states, dict):
                details.append(f"{minion}: {_error_text(states)}")
        elif any(isinstance(st, dict) and st.get("changes") for st in states.values()):
            changed[minion] = states
        else:
            unchanged.append(minion)
    ret = _ret(name, not failed, changes={"out": "highstate", "ret": changed} if changed else {})
    if failed:
        ret["comment"] = "\n".join([f"Run failed on minions: {', '.join(failed)}", *details])
    else:
        ret["comment"] = " ".join(["States ran successfully."]
                                  + ([f"Updating {', '.join(changed)}."] if changed else [])
                                  + ([f"No changes made to {', '.join(unchanged)}."] if unchanged else []))
        if __opts__.get("test") and changed:
            ret["result"] = None
    return ret


def status(name):
    """The closing table of ``salt-run vent.status`` under a first line "all up" or
    "NOT all up"; informative, never fails the run."""
    _progress(f"{name}: collecting cluster status")
    ret = _runner("vent.status")
    if isinstance(ret, dict) and "data" in ret:
        text, code = ret["data"], ret.get("retcode", 0)
    else:  # the runner raised or returned something else: say so, as not all up
        text, code = ret, 1
    return _ret(name, True, f"{'NOT all up' if code else 'all up'}\n{text}")
