"""What the operator runners share: asking minions through Salt, kubectl on a
controller, the API readiness of the controllers, and plain-text results with an
exit code. Runners reach it as ``__utils__["vent_ops.<fn>"]``."""

from __future__ import annotations

import json
import logging
import re
import shlex
import time

import salt.client
import salt.utils.master
from salt.exceptions import CommandExecutionError

# Salt 3008's salt-run never destroys its own Runner and MasterMinion (salt/cli/run.py,
# also in 3008.5), so their finalizers log this at WARNING after every run, ours or not.
# With no master running, its event publisher's SyncWrapper leaks the same way. Every
# salt.state/salt.function step of an orchestration fires its arguments through
# salt.utils.event.fire_args, which never destroys its MasterEvent either: one such
# line a step, between the steps' progress lines.
_CLI_LEAK = re.compile(
    r"^unclosed (?:(?:Runner|RunnerClient|MasterMinion|WheelClient|MasterEvent) "
    r"<salt\.[\w.]+ object at 0x[0-9a-f]+>; "
    r"call ``destroy\(\)``|SyncWrapper for cls=<class 'salt\.transport\.[\w.]+'>; call ``close\(\)``) "
    r"or use as a context manager$")


class _CliLeakFilter(logging.Filter):
    """Drops exactly that message; every other record of those loggers passes."""

    def filter(self, record):
        return not _CLI_LEAK.match(record.getMessage())


def quiet_cli_leaks():
    """Called from each Vent runner's ``__virtual__`` and the orchestration steps' state
    module's: salt-run's output stays ours."""
    for name in ("salt.runner", "salt.minion", "salt.client", "salt.wheel", "salt.utils.asynchronous",
                 "salt.utils.event"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _CliLeakFilter) for f in logger.filters):
            logger.addFilter(_CliLeakFilter())


def text(data, retcode=0):
    """Plain-text output with an exit code: salt-run exits with ``retcode``."""
    return {"outputter": "vent_text", "data": data, "retcode": retcode}


def failed(retcode):
    """The functions of a job's return that failed: ``retcode`` is an int for a
    single-function job and ``{function: retcode}`` for a multi-function one."""
    if isinstance(retcode, dict):
        return sorted(fun for fun, code in retcode.items() if code)
    return ["job"] if retcode else []


def _answers(raw):
    return {minion: (not failed(data.get("retcode")), data["ret"]) for minion, data in (raw or {}).items()}


def job_returns(client, pub, timeout=None, gather_job_timeout=None, since=None):
    """``{minion: {"ret", "retcode"}}`` of the job ``pub`` (``client.run_job``'s
    answer, published with ``listen=True``); a minion that did not return is absent.

    It waits as Salt's own clients do (``timeout`` from ``since``, the publish's
    ``time.monotonic()``, else from the call; then the minions still out are asked
    with ``saltutil.find_job``, and those still running it are waited for another
    ``timeout``), but blocked on the event bus: Salt's
    ``get_iter_returns`` asks the bus every 10 ms, which cost about 0.07 core-seconds
    per second of waiting, for each orchestration step that waits. Other jobs'
    returns stay queued: ``run_job`` subscribed the client to each job it published."""
    opts = client.opts
    timeout = opts["timeout"] if timeout is None else timeout
    gather = opts["gather_job_timeout"] if gather_job_timeout is None else gather_job_timeout
    tag = f"salt/job/{pub['jid']}/ret/"
    out, waiting = {}, set(pub["minions"])
    deadline = (time.monotonic() if since is None else since) + timeout
    asking = None  # the find_job of the minions still out: (its jid, when to read it)
    while waiting:
        now = time.monotonic()
        if asking is None and now >= deadline:
            found = client.run_job(sorted(waiting), "saltutil.find_job", [pub["jid"]], tgt_type="list",
                                   timeout=gather, listen=True)
            if not found:
                break
            asking = (found["jid"], now + gather)
            continue
        if asking is not None and now >= asking[1]:
            # find_job's answers waited in the client's queue (run_job subscribed it):
            # a minion whose answer names the job still runs it
            answers = {}
            while _returned(client.event.get_event(tag=f"salt/job/{asking[0]}/ret/", match_type="startswith",
                                                   full=True, no_block=True), waiting, answers):
                pass
            client.event.unsubscribe(f"salt/job/{asking[0]}")
            waiting &= {minion for minion, answer in answers.items() if answer["ret"]}
            asking, deadline = None, now + timeout
            continue
        until = asking[1] if asking else deadline
        _returned(client.event.get_event(wait=max(0.05, until - now), tag=tag, match_type="startswith",
                                         full=True, auto_reconnect=True), waiting, out)
        waiting -= set(out)
    return out


def _returned(event, minions, out):
    """Takes a job's return ``event`` of one of ``minions`` into ``out`` (once a minion);
    whether there was an event."""
    data = (event or {}).get("data") or {}
    if data.get("id") in minions and data["id"] not in out:
        out[data["id"]] = {"ret": data.get("return"), "retcode": data.get("retcode")}
    return event is not None


def job(targets, fun, arg=(), kwarg=None, timeout=None):
    """Run ``fun`` on a list of minions: ``{minion: {"ret", "retcode"}}``; absent: no
    answer."""
    return jobs_together({"job": (targets, fun, arg, kwarg, timeout)})["job"]


def cmd(targets, fun, arg=(), kwarg=None, timeout=10):
    """Run ``fun`` on a list of minions: {minion: (ok, return)}; absent: no answer."""
    return cmd_together({"job": (targets, fun, arg, kwarg, timeout)})["job"]


# How long the jobs after a gate (cmd_together) ask a minion that did not return
# whether it still runs them: one that answered the gate is up, and one that did not
# has already been waited for.
AFTER_GATE_GATHER_SECONDS = 1


def cmd_together(jobs, gate=None):
    """Several ``cmd`` jobs published at once, so the minions run them side by side:
    ``jobs`` is ``{name: (targets, fun, arg, kwarg, timeout)}``; returns ``{name:
    {minion: (ok, return)}}``. A silent minion is waited for (its timeout, then
    gather_job_timeout) in every job that names it: target only minions known to be
    up, or name the job that tells (a ping) as ``gate``: it is gathered first, and a
    minion silent there costs the others no more than a second."""
    return {name: _answers(raw) for name, raw in jobs_together(jobs, gate).items()}


def jobs_together(jobs, gate=None):
    """``cmd_together`` with each minion's return and retcode as they came:
    ``{name: {minion: {"ret", "retcode"}}}``."""
    out = {name: {} for name in jobs}
    with salt.client.LocalClient(mopts=__opts__) as client:
        since = time.monotonic()
        published = {
            name: (client.run_job(list(targets), fun, list(arg), tgt_type="list", timeout=timeout,
                                  kwarg=kwarg or {}, listen=True), timeout)
            for name, (targets, fun, arg, kwarg, timeout) in jobs.items() if targets
        }
        for name in sorted(published, key=lambda n: n != gate):
            pub, timeout = published[name]
            if pub:
                quick = None if gate in (None, name) else AFTER_GATE_GATHER_SECONDS
                out[name] = job_returns(client, pub, timeout, quick, since)
    return out


def _master_cache(opts):
    return salt.utils.master.MasterPillarUtil("*", "glob", use_cached_grains=True,
                                              grains_fallback=False, opts=opts)


def mine_nodes(opts):
    """The mine's ``vent_node`` entries, ``{minion: node}``, read from the master's
    cache in place (``opts``: the master's): the mine.get runner builds the master's
    remote functions anew for each call, about 0.2 s."""
    mine = _master_cache(opts).get_cached_mine_data()
    return {m: d["vent_node"] for m, d in (mine or {}).items() if isinstance(d, dict) and d.get("vent_node")}


def master_grains(opts):
    """The master's grain cache, ``{minion: grains}``: what the ``cache.grains`` runner
    answers for ``*``, read in place (``opts``: the master's)."""
    return _master_cache(opts).get_minion_grains()


def cluster_nodes(opts):
    """``nodes`` of the master's cached mine and grains (``opts``: the master's)."""
    return nodes(mine_nodes(opts), master_grains(opts))


def nodes(mine, cached_grains):
    """minion id -> node info: the mine's ``vent_node`` data, completed with the master's
    cached grains for minions that have not published yet. (Runners pass the data:
    their ``__salt__`` does not resolve inside a utility.)"""
    found = {m: dict(n or {}) for m, n in (mine or {}).items()}
    for minion, grains in (cached_grains or {}).items():
        node = found.setdefault(minion, {"id": minion})
        node.setdefault("roles", sorted((grains or {}).get("roles", [])))
        vent = (grains or {}).get("vent", {}) or {}
        for key in ("private_ip", "public_ip"):
            if not node.get(key) and vent.get(key):
                node[key] = vent[key]
    return found


def api_ready_job(controllers, local_api, ca_cert, timeout=5):
    """The job behind ``api_ready``, as ``(targets, fun, arg, kwarg, timeout)`` for
    ``cmd`` or ``cmd_together``: ``vent_k8s.wait_healthy``, the one readiness check of
    the API, on each controller's own API (``local_api``, verified against ``ca_cert``)."""
    return (controllers, "vent_k8s.wait_healthy", [local_api, ca_cert],
            {"timeout": timeout, "paths": ["/readyz"]}, timeout + 10)


def api_verdicts(controllers, answers):
    """{controller: "ready" | why} from the answers to ``api_ready_job``."""
    out = {}
    for minion in controllers:
        ok, ret = answers.get(minion, (False, None))
        if ok and isinstance(ret, dict) and ret.get("ok"):
            out[minion] = "ready"
        elif isinstance(ret, dict) and "status" in ret:
            out[minion] = "not ready (" + "; ".join(f"{p}: {s}" for p, s in ret["status"].items()) + ")"
        else:
            out[minion] = "missing"
    return out


def api_ready(controllers, local_api, ca_cert, timeout=5):
    """{controller: "ready" | why}: ``api_ready_job`` asked and judged."""
    return api_verdicts(controllers, cmd(*api_ready_job(controllers, local_api, ca_cert, timeout)))


class Kubectl:
    """kubectl on a controller (the CA minion) with its admin kubeconfig, run through
    Salt so no credential leaves the controller. Failures raise
    CommandExecutionError with kubectl's last line."""

    def __init__(self, minion, paths, timeout=60):
        self.minion = minion
        self.timeout = timeout
        self.base = f"{paths['kubectl']} --kubeconfig={paths['admin_kubeconfig']}"

    def sh(self, command, timeout=None):
        # The command goes as a keyword: a positional one starting "NAME=value" would be
        # read by Salt as a keyword argument itself.
        res = cmd([self.minion], "cmd.run_all", (),
                  {"cmd": command, "python_shell": True, "timeout": timeout or self.timeout},
                  timeout=(timeout or self.timeout) + 10)
        if self.minion not in res:
            raise CommandExecutionError(f"{self.minion} did not answer")
        ret = res[self.minion][1]
        if not isinstance(ret, dict):
            raise CommandExecutionError(str(ret))
        return ret

    def run(self, args, stdin=None, timeout=None):
        command = f"{self.base} " + " ".join(shlex.quote(a) for a in args)
        if stdin is not None:
            command = f"printf %s {shlex.quote(stdin)} | {command}"
        ret = self.sh(command, timeout)
        if ret.get("retcode"):
            why = (ret.get("stderr") or ret.get("stdout") or "no output").strip().splitlines()[-1]
            raise CommandExecutionError(why)
        return ret.get("stdout", "")

    def json(self, args):
        return json.loads(self.run([*args, "-o", "json"]) or "{}")


def kubectl(minion, paths, timeout=60):
    """A ``Kubectl`` on ``minion``; ``paths``: the model's paths (kubectl, admin
    kubeconfig)."""
    return Kubectl(minion, paths, timeout)
