"""The local lab: Vent end to end on one Linux machine.

    ./vent lab up [--controllers N] [--workers N]
    ./vent lab status
    ./vent lab down

`up` builds (or reuses) the node image, brings up the lab bridge, starts the Packet API
emulator with the lab backend (each device a real nspawn machine) and a salt-master on
198.18.0.1, creates the devices with ``salt-cloud -m <map> -P``, then runs the
orchestration and ``vent.status`` when they exist. Running it again on a running lab
only adds what is missing. `down` removes exactly what the lab state says the lab
created: machines, bridge, mounts, cgroups, rules, processes and the files it wrote.
The node image cache stays (it is a cache; ``rm -r .vent/lab/image`` drops it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from ventlab import artifacts, registry, saltconfig
from ventlab.build import manifest
from ventlab.machines import host, image, machine, state
from ventlab.model import model

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
NET = host.Network()
MASTER_IP = NET.gateway(NET.public)
MARKER = "# vent-lab: generated"
PROVIDER_FILE = REPO / "cloud.providers.d" / "lab.conf"
MASTER_CONF = REPO / "etc" / "salt" / "master.d" / "50-lab.conf"
SITE = REPO / "pillar" / "site.sls"
SECRETS = REPO / "pillar" / "secrets"
# The lab's settings: the tracked pillar with lab/pillar/lab.sls over it (what
# pillar/site.sls holds while the lab runs).
SETTINGS = model.load([REPO / "pillar"], site=False,
                      overrides=model.read_sls(REPO / "lab" / "pillar" / "lab.sls"))
# vent:artifacts:mirror; every machine sees it read-only at the same path.
MIRROR = Path(model.paths(SETTINGS)["mirror"])
START_TIMEOUT = 30.0
# `up` exit codes: the deploy stopped only where release files are absent (the lab's
# normal state where Kubernetes/flannel/gVisor/CoreDNS cannot be had), or a step failed.
EXIT_NOT_RUN = 3
EXIT_FAILED = 1
REGISTRY_ADDR = f"{MASTER_IP}:{registry.PORT}"


def log(msg: str) -> None:
    print(f"==> {msg}", file=sys.stderr, flush=True)


def _lab() -> Path:
    return state.lab_dir()


def _salt(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    """A salt CLI from this venv, run from the repo root so the Saltfile applies. Its
    output goes to logs/<command>.log (the terminal gets one line per step); on a
    failure the end of that log is shown."""
    env = dict(os.environ, PATH=f"{BIN}:{os.environ.get('PATH', '')}")
    logs = _lab() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    path = logs / f"{argv[0]}.log"
    with open(path, "a", encoding="utf-8") as out:
        out.write(f"\n$ {' '.join(argv)}\n")
        out.flush()
        proc = subprocess.run([str(BIN / argv[0]), *argv[1:]], cwd=REPO, env=env, text=True,
                              stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode:
        tail = path.read_text(encoding="utf-8", errors="replace").splitlines()[-30:]
        log(f"{' '.join(argv)} exited {proc.returncode}; the end of {path}:")
        print("\n".join(tail), file=sys.stderr, flush=True)
        if check:
            raise SystemExit(f"{' '.join(argv)} failed (exit {proc.returncode})")
    return proc


def _alive(record: dict | None) -> bool:
    if not record:
        return False
    try:
        cmdline = Path(f"/proc/{record['pid']}/cmdline").read_bytes()
    except OSError:
        return False
    return record["match"].encode() in cmdline


def _ended(record: dict) -> str:
    """'' while a process this command started still runs; else how it ended. Asks
    the kernel (waitpid), not /proc: just after exec a process's cmdline can read empty
    for a moment, which once made a starting emulator look dead."""
    try:
        pid, status = os.waitpid(record["pid"], os.WNOHANG)
    except ChildProcessError:  # not this command's child (an earlier run started it)
        return "" if _alive(record) else "gone"
    if not pid:
        return ""
    code = os.waitstatus_to_exitcode(status)
    return f"killed by signal {-code}" if code < 0 else f"exit status {code}"


def _daemon(name: str, argv: list[str], match: str, env: dict | None = None) -> dict:
    """Start a long-running process detached from this command, logging to a file."""
    logs = _lab() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{name}.log", "ab") as out:
        proc = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **(env or {})})
    record = {"pid": proc.pid, "match": match, "log": str(logs / f"{name}.log")}
    with state.locked() as st:
        st["processes"][name] = record
    return record


def _record_file(path: Path) -> None:
    with state.locked() as st:
        if str(path) not in st["files"]:
            st["files"].append(str(path))


def ssh_key() -> Path:
    key = _lab() / "ssh" / "id_ed25519"
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "vent-lab",
                        "-f", str(key)], check=True)
    return key


def token() -> str:
    path = _lab() / "token"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(20))
        path.chmod(0o600)
    return path.read_text().strip()


def _answers(url: str) -> bool:
    """The emulator serves: an authenticated API call gets its JSON answer."""
    request = urllib.request.Request(f"{url}/projects", headers={"X-Auth-Token": token()})  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=2) as resp:  # noqa: S310 (loopback)
            return resp.status == 200 and "projects" in json.loads(resp.read())
    except (OSError, ValueError):
        return False


def start_emulator() -> str:
    """The lab's emulator, started if need be; its URL once it answers HTTP. Readiness
    is an API call to the URL the process itself wrote, never a line of a log that
    earlier runs appended to."""
    st = state.read()
    rec = st["processes"].get("emulator")
    url_file = _lab() / "emulator.url"
    if _alive(rec) and url_file.exists() and _answers(url_file.read_text().strip()):
        return url_file.read_text().strip()
    if _alive(rec):
        _stop(rec)
    log("starting the Packet API emulator with the lab backend")
    url_file.unlink(missing_ok=True)
    rec = _daemon("emulator", [
        sys.executable, "-m", "ventlab.emulator", "--listen", "127.0.0.1:0",
        "--backend", "ventlab.machines.backend:LabBackend",
        "--state", str(_lab() / "emulator.json"), "--provision-delay", "0",
        "--queued-delay", "0.2", "--url-file", str(url_file),
    ], match="ventlab.emulator", env={"METAL_AUTH_TOKEN": token(),
                                       "VENT_LAB_DIR": str(_lab()),
                                       "VENT_LAB_BRIDGE": NET.bridge,
                                       "VENT_LAB_BINDS_RO": str(MIRROR),
                                       "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if url_file.exists() and _answers(url := url_file.read_text().strip()):
            return url
        if ended := _ended(rec):
            raise SystemExit(f"the emulator exited at start ({ended}); see {rec['log']}")
        time.sleep(0.1)
    raise SystemExit(f"the emulator did not answer within {START_TIMEOUT:.0f}s; see {rec['log']}")


def deploy_settings() -> dict:
    """The provider settings every lab machine's minion deploy needs, whichever driver
    (packet here, saltify in the e2e test) makes or reaches the machine."""
    return {
        "ssh_username": "root",
        "minion": {"master": MASTER_IP, "acceptance_wait_time": 1, "auth_timeout": 5},
        # The image carries the pinned Salt's wheels: the deploy needs no network.
        "script_env": {"VENT_WHEELHOUSE": image.WHEELHOUSE},
    }


def write_provider(url: str, key: Path) -> None:
    """salt-cloud's `packet` provider, pointed at the emulator. The tracked profiles
    (cloud.profiles.d/vent.conf) then create lab machines unchanged."""
    real = REPO / "cloud.providers.d" / "packet.conf"
    if real.exists():
        raise SystemExit(f"{real} exists: the lab defines the `packet` provider itself; "
                         "move that file away while the lab runs")
    from ventlab.emulator.devices import DEFAULT_PROJECT_ID

    config = {"packet": {
        "driver": "packet", "api_url": url, "token": token(),
        "project_id": DEFAULT_PROJECT_ID, "ssh_keyfile": str(key), **deploy_settings(),
        # A lab machine is active about 1.3 s after its POST: polled every second, it
        # was seen at 2 s, or at 3 s when the machines booting together took longer.
        "wait_for_active": 300, "poll_interval": 0.25, "api_retries": 2, "api_timeout": 30,
    }}
    PROVIDER_FILE.write_text(f"{MARKER}\n{yaml.safe_dump(config, sort_keys=False)}")
    PROVIDER_FILE.chmod(0o600)
    _record_file(PROVIDER_FILE)


def site_pillar() -> dict:
    """The lab's pillar: lab/pillar/lab.sls with what `up` derives from this host, the
    checksums and digests of the release files built here and the registry mirror
    serving the built images, so the states verify and pull exactly those."""
    derived = {
        "artifacts": {"built": manifest.pillar(manifest.read(MIRROR))},
        "containerd": {"registry_mirrors": registry.mirrors(MIRROR, REGISTRY_ADDR)},
    }
    if not host.cgroup_v2():
        # Lab machines share the host's cgroup layout; on a v1 (hybrid) host the
        # kubelet must be told to run anyway (it refuses v1 by default since 1.35).
        derived["kubernetes"] = {"kubelet_config": {"failCgroupV1": False}}
    if not host.can_lower_oom_scores():
        # Without CAP_SYS_RESOURCE on the host no machine may either: runc would fail
        # every pod the kubelet gives a negative OOM score (critical pods, Guaranteed).
        derived["containerd"]["restrict_oom_score_adj"] = True
    return model.merge(model.read_sls(REPO / "lab" / "pillar" / "lab.sls"), derived)


def write_site() -> None:
    """pillar/site.sls from the lab's pillar, rewritten on every `up` (the build may
    have changed) unless the file is the operator's own."""
    if SITE.exists() and MARKER not in SITE.read_text():
        log(f"keeping the operator's {SITE.relative_to(REPO)} (no lab overrides added)")
        return
    header = "".join(line + "\n" for line in (REPO / "lab" / "pillar" / "lab.sls").read_text().splitlines()
                     if line.startswith("#"))
    SITE.write_text(header + yaml.safe_dump({"vent": site_pillar()}, sort_keys=True))
    _record_file(SITE)


def ensure_artifacts() -> None:
    """Every pinned release file and image in the mirror and valid; what is missing is
    built from the Go modules (the lab never downloads: allow_download is false)."""
    arch = artifacts.host_arch()
    bad = [(state, label) for state, label, _ in artifacts.check(SETTINGS, [arch])
           if state not in ("ok", "ok-built")]
    if not bad:
        return
    log(f"{len(bad)} release file(s) or image(s) missing or not valid "
        f"({', '.join(label for _, label in bad[:4])}{', ...' if len(bad) > 4 else ''}): "
        "./vent artifacts build")
    if artifacts.build(SETTINGS, [arch]):
        raise SystemExit("the release build failed (see above); `./vent artifacts check` lists "
                         "what is missing")


def start_registry() -> None:
    """The image registry on the lab bridge, loaded with the built images."""
    rec = state.read()["processes"].get("registry")
    if not _alive(rec):
        conf = _lab() / "registry.json"
        conf.parent.mkdir(parents=True, exist_ok=True)
        registry.STORAGE.mkdir(parents=True, exist_ok=True)
        conf.write_text(registry.config_text(REGISTRY_ADDR))
        log(f"starting the image registry on {REGISTRY_ADDR}")
        _daemon("registry", registry.argv(conf), match="docker-registry")
    registry.wait_ready(REGISTRY_ADDR)
    registry.push(MIRROR, REGISTRY_ADDR, log=lambda m: log(f"  {m}"))


def ensure_mirror() -> None:
    """The artifact mirror directory, created (and recorded for `down`) when absent."""
    if MIRROR.is_dir():
        return
    created = [p for p in (MIRROR, *MIRROR.parents) if not p.exists()]
    MIRROR.mkdir(parents=True)
    with state.locked() as st:
        st.setdefault("dirs", []).extend(str(p) for p in created)


def init_secret(name: str, *argv: str) -> None:
    """A runner-made secret, created when absent; recorded so `down` drops the lab's
    own secrets and never an operator's."""
    secret = SECRETS / f"{name}.sls"
    if secret.exists():
        return
    _salt("salt-run", *argv, check=False)
    if secret.exists():
        with state.locked() as st:
            st.setdefault("secrets", []).append(str(secret))


def _step_results(out: str) -> list[tuple[str, dict]]:
    """The orchestration's steps in run order, from ``salt-run --out=json``."""
    # salt-run may print a line of its own before the JSON ("No minions matched ...").
    start = out.find("\n{") + 1 if not out.startswith("{") else 0
    try:
        data = json.loads(out[start:])
    except ValueError:
        return []
    data = data.get("data", data) if isinstance(data, dict) else {}
    steps = []
    for value in data.values():
        if isinstance(value, dict):
            steps += [(r.get("__id__") or k.split("_|-")[1], r) for k, r in value.items()
                      if isinstance(r, dict) and "result" in r]
    return sorted(steps, key=lambda s: s[1].get("__run_num__", 0))


def _failed_states(ret: dict) -> list[str]:
    """The failed formula states under a ``salt.state`` step, one line each."""
    lines = []
    minions = ret.get("changes", {}).get("ret", {})
    for minion, states in sorted(minions.items() if isinstance(minions, dict) else []):
        if not isinstance(states, dict):
            lines.append(f"{minion}: {states}")
            continue
        for key, st in sorted(states.items(), key=lambda kv: kv[1].get("__run_num__", 0)):
            comment = str(st.get("comment", ""))
            if st.get("result") is False and "requisite failed" not in comment:
                lines.append(f"{minion}: {key.split('_|-')[1]}: {comment.strip()[-600:]}")
    return lines


def summarize(out: str) -> tuple[int, list[str]]:
    """(exit code, one line a step): ok, not run (and why) or FAILED."""
    steps = _step_results(out)
    if not steps:
        return EXIT_FAILED, ["orchestration returned no step results:", out[-2000:]]
    lines, code, cause = [], 0, None
    for sid, ret in steps:
        comment = str(ret.get("comment", "")).strip()
        first = comment.splitlines()[0] if comment else ""
        if ret["result"] and first.startswith("not run:"):
            lines.append(f"  {sid:32} {first}")
        elif ret["result"]:
            changed = "changed" if ret.get("changes") else "no changes"
            lines.append(f"  {sid:32} ok ({changed})")
        elif "requisite failed" in comment and cause:
            lines.append(f"  {sid:32} not run: after {cause}")
        elif first.startswith("not run:"):
            missing = re.findall(r"missing artifact vent:artifacts:releases:(\S+):files:(\S+) ", first)
            missing = [f"{c} {f}" for c, f in missing]
            cause = cause or f"{sid} (missing: {', '.join(missing)})"
            code = code or EXIT_NOT_RUN
            lines.append(f"  {sid:32} {first}")
        else:
            cause = cause or f"{sid} (failed)"
            code = EXIT_FAILED
            lines.append(f"  {sid:32} FAILED: {comment[-1500:]}")
            lines += [f"      {line}" for line in _failed_states(ret)]
    return code, lines


def record_timing(name: str, seconds: float, **extra) -> None:
    """Phase timings of the last runs, for ``./vent bench`` (logs/timings.json)."""
    path = _lab() / "logs" / "timings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = {"seconds": round(seconds, 1), **extra}
    path.write_text(json.dumps(data, indent=1))


def cpu_shares(since: tuple[int, int, int]) -> dict:
    """A run's ``cpu_busy`` and ``cpu_steal`` for ``record_timing``: the shares of the
    host's CPU time since ``since`` (``host.cpu_jiffies``) that were busy and stolen."""
    busy, stolen = host.cpu_use(since)
    return {"cpu_busy": round(busy, 3), "cpu_steal": round(stolen, 3)}


def orchestrate(stop_after: str | None = None) -> int:
    """``salt-run state.orchestrate vent`` (up to the phase ``stop_after``); prints what
    ran, what did not and why."""
    t, cpu, machines_cpu = time.monotonic(), host.cpu_jiffies(), machine.cpu_seconds()
    units_cpu = machine.unit_cpu_seconds()
    env = dict(os.environ, PATH=f"{BIN}:{os.environ.get('PATH', '')}")
    argv = [str(BIN / "salt-run"), "--out=json", "state.orchestrate", "vent"]
    if stop_after:
        argv.append("pillar=" + json.dumps({"vent": {"orchestrate": {"stop_after": stop_after}}}))
    proc = subprocess.run(argv, cwd=REPO, env=env, text=True, capture_output=True)
    logs = _lab() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "orchestrate.json").write_text(proc.stdout)
    code, lines = summarize(proc.stdout)
    steps = _step_results(proc.stdout)
    record_timing("orchestration", time.monotonic() - t, exit=code,
                  changed_steps=sum(1 for _, r in steps if r.get("changes")),
                  **cpu_shares(cpu),
                  cpu_by_machine=machine.cpu_since(machines_cpu),
                  cpu_by_unit=machine.unit_cpu_since(units_cpu),
                  steps={sid: round(r.get("duration", 0) / 1000, 1) for sid, r in steps})
    verdict = {0: "complete", EXIT_NOT_RUN: "PARTIAL (steps not run)",
               EXIT_FAILED: "FAILED"}[code]
    print(f"orchestration {verdict} in {time.monotonic() - t:.1f}s "
          f"(log: {logs / 'orchestrate.json'}):", flush=True)
    print("\n".join(lines), flush=True)
    if proc.returncode and not code:
        print(proc.stderr[-2000:], flush=True)
        code = EXIT_FAILED
    return code


def status_verdict() -> str:
    """The first line of the orchestration's closing vent.status step ("all up" or
    "NOT all up"), or why there is none."""
    path = _lab() / "logs" / "orchestrate.json"
    results = dict(_step_results(path.read_text())) if path.exists() else {}
    comment = str(results.get("vent-status", {}).get("comment") or "")
    return comment.splitlines()[0] if comment else "not run (the orchestration stopped before it)"


def start_master() -> bool:
    """The lab's master, started unless it runs; whether this started it."""
    MASTER_CONF.parent.mkdir(parents=True, exist_ok=True)
    MASTER_CONF.write_text(f"{MARKER}\n# The lab's master listens on the lab bridge only.\n"
                           f"interface: {MASTER_IP}\n")
    _record_file(MASTER_CONF)
    if _alive(state.read()["processes"].get("salt-master")):
        return False
    log(f"starting salt-master on {MASTER_IP}")
    _daemon("salt-master", [str(BIN / "salt-master"), "-c", str(REPO / "etc" / "salt"),
                            "-l", "warning"], match="salt-master")
    return True


def master_ready(just_started: bool, timeout: float = 120.0) -> float:
    """Wait until the master serves, and return the seconds waited: its request port
    answers; and, when ``just_started``, its processes have gone quiet (bounded by
    ``timeout``, then it goes on). Its workers bind first and then load Salt's modules
    in the background, eight Python processes each importing most of Salt; devices
    created meanwhile shared the two cores with them (in one run the master's start
    took about 5 of the 8 s salt-cloud took for three devices). A master that was
    already running may be busy with the operator's own jobs: it is not waited for."""
    import salt.config

    started = time.monotonic()
    record = state.read()["processes"]["salt-master"]
    port = salt.config.DEFAULT_MASTER_OPTS["ret_port"]
    deadline = started + timeout

    def alive() -> None:
        if not _alive(record):
            raise SystemExit(f"salt-master exited while starting: see {record['log']}")

    while True:
        alive()
        if time.monotonic() > deadline:
            raise SystemExit(f"salt-master did not open port {port} within {timeout:g}s: "
                             f"see {record['log']}")
        try:
            socket.create_connection((MASTER_IP, port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    used = host.session_cpu_seconds(record["pid"])
    while just_started and time.monotonic() < deadline:
        time.sleep(0.5)
        alive()
        now = host.session_cpu_seconds(record["pid"])
        if now - used < 0.05:  # 5 % of one core: only its idle loops left
            break
        used = now
    return time.monotonic() - started


def write_map(controllers: int, workers: int) -> Path:
    """The lab's salt-cloud map."""
    path = _lab() / "lab.map"
    entries = {
        "vent-controller": [f"controller-{i}" for i in range(controllers)],
        "vent-worker": [f"worker-{i}" for i in range(workers)],
    }
    path.write_text(yaml.safe_dump({k: v for k, v in entries.items() if v}))
    return path


def up(args) -> int:
    started = time.monotonic()
    saltconfig.render()  # this checkout's paths, formulas included (as ./vent setup)
    log("node image")
    image.build(log=lambda m: log(f"  {m}"))
    with state.locked() as st:
        host.bridge_up(NET, st)
        for change in host.sysctls_up(st):
            log(f"host kernel setting for the kubelet: {change} (restored by down)")
    # First (it listens on the bridge): it starts while the steps below run.
    master_started = start_master()
    ensure_mirror()
    ensure_artifacts()
    start_registry()
    key = ssh_key()
    url = start_emulator()
    write_provider(url, key)
    write_site()
    init_secret("encryption", "vent.encryption_key_init")
    init_secret("ca", "vent.ca_init", f"ca_minion={model.ca_minion(SETTINGS)}")
    waited = master_ready(master_started)
    log(f"image, network, emulator, master ready after {time.monotonic() - started:.1f}s "
        f"(the last {waited:.1f}s waiting for the master)")
    lab_map = write_map(args.controllers, args.workers)
    log(f"salt-cloud -m {lab_map} -P")
    t, cpu = time.monotonic(), host.cpu_jiffies()
    _salt("salt-cloud", "-m", str(lab_map), "-P", "-y")
    record_timing("salt-cloud", time.monotonic() - t, devices=args.controllers + args.workers,
                  **cpu_shares(cpu))
    log(f"devices up in {time.monotonic() - t:.1f}s")
    code = orchestrate(args.stop_after)
    log(f"vent.status {status_verdict()} (`salt-run vent.status` shows the table)")
    record_timing("lab up", time.monotonic() - started, exit=code)
    log(f"lab up in {time.monotonic() - started:.1f}s"
        + {0: "", EXIT_NOT_RUN: "; some steps not run (see above)",
           EXIT_FAILED: "; the orchestration FAILED (see above)"}[code])
    return code


def _stop(record: dict, timeout: float = 10.0) -> None:
    if not _alive(record):
        return
    os.killpg(record["pid"], signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(record) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(record):
        os.killpg(record["pid"], signal.SIGKILL)


def down(args) -> int:
    st = state.read()
    for name in ("salt-master", "emulator", "registry"):
        if name in st["processes"]:
            log(f"stopping {name}")
            _stop(st["processes"][name])
    # The lab's minions go with their machines: their keys and the master's grain
    # cache, which the orchestration's targets read, would otherwise outlive them.
    # One salt-key run for all of them (it takes a comma-separated list), beside the
    # machines' shutdown: without a master it takes about 3.5 s.
    hostnames = [record["hostname"] for record in st["machines"].values()]
    with ThreadPoolExecutor(1) as pool:
        keys = pool.submit(_salt, "salt-key", "-q", "-y", "-d", ",".join(hostnames),
                           check=False) if hostnames else None
        log("removing machines, bridge and rules")
        machine.down_all()
        if keys:
            keys.result()
    with state.locked() as st:
        for path in map(Path, st["files"]):
            if path.exists() and MARKER in path.read_text():
                path.unlink()
        st["files"] = []
        st["processes"] = {}
        for path in map(Path, st.get("secrets", [])):
            path.unlink(missing_ok=True)
        st["secrets"] = []
        for path in map(Path, st.get("dirs", [])):  # deepest first; only if still empty
            with contextlib.suppress(OSError):
                path.rmdir()
        st["dirs"] = []
    for leftover in ("emulator.json", "emulator.url", "lab.map", "token", "ssh", "logs",
                     "machines", "registry.json"):
        p = _lab() / leftover
        shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    log("lab down")
    return 0


def status(args) -> int:
    st = state.read()
    for name, rec in sorted(st["processes"].items()):
        print(f"{name:12} pid {rec['pid']:<8} {'running' if _alive(rec) else 'gone'}")
    for m in machine.status():
        mem = f"{m['memory'] / 2**20:.0f} MiB" if m["memory"] else "-"
        print(f"{m['hostname']:14} {m['public_ip']:15} {m['private_ip']:15} "
              f"{'running' if m['running'] else 'stopped':8} {mem}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="./vent lab", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up", help="build/start the lab and converge it")
    u.add_argument("--controllers", type=int, default=1)
    u.add_argument("--workers", type=int, default=2)
    u.add_argument("--stop-after", choices=model.PHASES, metavar="PHASE",
                   help="end the deploy after this phase (vent:orchestrate:stop_after): "
                        + ", ".join(model.PHASES))
    sub.add_parser("down", help="remove everything the lab created")
    sub.add_parser("status", help="machines and processes of the lab")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        p.error("the lab needs root (nspawn, mounts, bridges)")
    return {"up": up, "down": down, "status": status}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
