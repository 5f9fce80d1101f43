"""Salt onto a new machine in one SSH session: the Packet driver's deploy.

salt-cloud's own deploy (``salt.utils.cloud.deploy_script``) opens an SSH or SFTP
session for each file and each command, 18 for one minion. Its reader sleeps 0.5 s
between polls, so each session costs about 1.7 s: 34 s of the 39 s a lab device took
from its POST to an answering minion. Here the minion's keys, config and grains and
the deploy script travel as one tar archive on the stdin of one session, and the
script runs in that same session; it shares one SSH connection with the login check
before it. What goes where is salt-cloud's: the files beside
``deploy.sh`` in ``tmp_dir``, the key pre-accepted on the master, the ``salt-cloud``
cloud grains, and the ``deploying`` and ``deploy_script`` events.

This covers login with a key file or an ssh-agent, as root or through passwordless
sudo, and ``script``, ``script_args``, ``script_env``, ``tmp_dir``, ``keep_tmp``,
``known_hosts_file``, ``ssh_port``, ``ssh_timeout`` and ``make_minion``. It returns
once the new minion has connected (its start event; ``wait_for_minion`` seconds, 120
by default), so the machine answers jobs when salt-cloud is done.
``unsupported`` names any other deploy setting in use; for those, the driver keeps
salt-cloud's own deploy.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shlex
import subprocess
import tarfile
import tempfile
import time
import uuid

import salt.config
import salt.exceptions
import salt.utils.cloud
import salt.utils.data
import salt.utils.event

log = logging.getLogger(__name__)

# Deploy settings that only salt-cloud's own deploy implements.
OTHER_SETTINGS = ("ssh_gateway", "make_master", "file_map", "inline_script", "preflight_cmds",
                  "win_installer", "master_sign_pub_file", "preseed_minion_keys",
                  "deploy_command", "sudo_password")


def _value(name, vm_, opts, default=None):
    return salt.config.get_cloud_config_value(name, vm_, opts, default=default)


def _key_file(vm_, opts):
    # As salt-cloud's bootstrap reads it; the driver has put the ~-expanded path in
    # key_filename before the deploy.
    return _value("key_filename", vm_, opts) or _value("ssh_keyfile", vm_, opts)


def unsupported(vm_, opts):
    """The deploy settings in use that this deploy does not implement."""
    found = [name for name in OTHER_SETTINGS if _value(name, vm_, opts)]
    if not _key_file(vm_, opts) and not (opts.get("ssh_agent") and os.environ.get("SSH_AUTH_SOCK")):
        found.append("password login (no ssh_keyfile)")
    if opts.get("start_action"):
        found.append("start_action")
    return found


def _archive(files):
    """A tar archive of ``{name: (text or bytes, mode)}``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, (text, mode) in files.items():
            data = text if isinstance(text, bytes) else text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _files(vm_, opts, minion_conf, extension_files=None):
    """What salt-cloud would upload beside deploy.sh; and ``extension_files``
    (``{"<kind>/<path>": bytes}``, the master's extension modules as a sync writes them)
    under ``extmods/``, which Vent's deploy script puts where a sync would."""
    conf = dict(minion_conf)
    files = {"minion.pem": (vm_["priv_key"], 0o600), "minion.pub": (vm_["pub_key"], 0o644)}
    grains = conf.pop("grains", {})
    if grains:
        files["grains"] = (salt.utils.cloud.salt_config_to_yaml(grains), 0o644)
    if opts.get("enable_cloud_grains", True):
        conf["grains"] = {"salt-cloud": {k: vm_[k] for k in ("driver", "provider", "profile")}}
    files["minion"] = (salt.utils.cloud.salt_config_to_yaml(conf), 0o644)
    for name, data in (extension_files or {}).items():
        files[f"extmods/{name}"] = (data, 0o644)
    return files


def _remote_command(tmp_dir, files, vm_, opts, sudo):
    """Unpack the archive from stdin into a fresh ``tmp_dir`` and run the script there,
    with ``script_env`` exported; the directory goes unless ``keep_tmp``."""
    script_args = _value("script_args", vm_, opts) or ""
    env = _value("script_env", vm_, opts) or {}
    command = f"./deploy.sh {script_args}".strip()
    if "bootstrap-salt" in vm_.get("os", ""):
        command += f" -c {shlex.quote(tmp_dir)}"  # as salt-cloud runs salt-bootstrap
    exports = "".join(f"export {k}={shlex.quote(str(v))}; " for k, v in env.items())
    keep = opts.get("keep_tmp")
    body = (f"set -e; umask 077; mkdir -m 700 {shlex.quote(tmp_dir)}; "
            + ("" if keep else f"trap 'rm -rf {shlex.quote(tmp_dir)}' EXIT; ")
            + f"cd {shlex.quote(tmp_dir)}; tar -xf -; {exports}{command}")
    shell = f"sh -c {shlex.quote(body)}"
    return f"sudo -n {shell}" if sudo else shell


def _port(vm_, opts):
    return int(_value("ssh_port", vm_, opts, 22))


def _ssh_argv(vm_, opts, host, control):
    key = _key_file(vm_, opts)
    argv = ["ssh", "-T", "-oBatchMode=yes", "-oStrictHostKeyChecking=no",
            f"-oUserKnownHostsFile={_value('known_hosts_file', vm_, opts, '/dev/null')}",
            "-oPasswordAuthentication=no", "-oKbdInteractiveAuthentication=no",
            f"-oConnectTimeout={int(_value('ssh_timeout', vm_, opts, 15))}",
            "-oServerAliveInterval=10", "-p", str(_port(vm_, opts))]
    # The login check opens the connection and the deploy session runs over it: one
    # key exchange and one login on the machine, not two.
    argv += ([f"-oControlPath={control}", "-oControlMaster=auto", "-oControlPersist=120"]
             if control else ["-oControlPath=none"])
    if key:
        argv += ["-oIdentitiesOnly=yes", "-i", key]
    return argv + [f"{_value('ssh_username', vm_, opts, 'root')}@{host}"]


def _ssh(vm_, opts, host, remote, stdin=b"", timeout=None, control=None):
    argv = _ssh_argv(vm_, opts, host, control) + [remote]
    return subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout, check=False)


@contextlib.contextmanager
def _connection(vm_, opts, host):
    """A control socket for the sessions to one machine; its master connection is closed
    on the way out."""
    with tempfile.TemporaryDirectory(prefix="vent-ssh-") as directory:
        control = os.path.join(directory, "master")
        try:
            yield control
        finally:
            if os.path.exists(control):
                argv = _ssh_argv(vm_, opts, host, control)
                subprocess.run([*argv[:-1], "-O", "exit", argv[-1]], capture_output=True, timeout=30,
                               check=False)


def _wait_login(vm_, opts, host, control=None):
    """Until a login answers: sshd may take the port before it takes logins."""
    tries = int(_value("wait_for_passwd_maxtries", vm_, opts, 15))
    for attempt in range(1, tries + 1):
        proc = _ssh(vm_, opts, host, "true", timeout=60, control=control)
        if proc.returncode == 0:
            return
        log.debug("ssh login to %s: attempt %d of %d failed: %s", host, attempt, tries,
                  proc.stderr.decode(errors="replace").strip())
        if attempt < tries:
            time.sleep(min(attempt, 5))
    raise salt.exceptions.SaltCloudSystemExit(
        f"no SSH login to {host} after {tries} attempts: {proc.stderr.decode(errors='replace').strip()}")


def _wait_minion_start(bus, minion_id, vm_, opts):
    """'' once the minion has connected and sent its start event (the master has its
    grains then, and it answers jobs); else why not."""
    timeout = float(_value("wait_for_minion", vm_, opts, 120))
    tag = f"salt/minion/{minion_id}/start"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = bus.get_event(wait=min(1.0, max(0.01, deadline - time.monotonic())), tag=tag, full=True)
        if event and event.get("tag") == tag:
            return ""
    return (f"the minion {minion_id} did not connect to this master within {timeout:g}s "
            f"(profile key wait_for_minion); its log is /var/log/salt/minion on the machine")


def _minion_id(vm_):
    return vm_["name"] if "append_domain" not in vm_ else f"{vm_['name']}.{vm_['append_domain']}"


def drop_foreign_pending_key(vm_, opts):
    """Remove a key pending under this machine's minion id that is not the key made for
    it; the path removed, or None.

    Such a key is most often the minion of the machine this one replaces: a deleted
    device runs on until it powers off, and once `salt-cloud -d` has removed its key its
    minion authenticates again and its key lands in pending. The master looks at
    pending before accepted, so it would deny the new minion (``the public key in
    pending did not match``) though its own key is accepted. With the pending key gone,
    that old minion finds the accepted key differs and is refused."""
    pub = vm_.get("pub_key")
    if not pub:
        return None
    pending = os.path.join(opts["pki_dir"], "minions_pre", _minion_id(vm_))
    try:
        with open(pending, encoding="utf-8") as fh:
            held = fh.read()
    except FileNotFoundError:
        return None
    if held.strip() == pub.strip():
        return None  # salt-cloud's accept_key takes this one out of pending itself
    os.remove(pending)
    return pending


def _event(opts, what, tag, args):
    salt.utils.cloud.fire_event("event", what, tag, args=args,
                                sock_dir=opts.get("sock_dir", os.path.join(opts["sock_dir"], "master")),
                                transport=opts.get("transport", "zeromq"))


def deploy(vm_, opts, extension_files=None):
    """Install Salt on the machine as ``salt.utils.cloud.bootstrap`` would, over one
    session, with ``extension_files`` (see ``_files``); its return (``deployed``), or
    ``Error`` when the script failed."""
    name = vm_["name"]
    host = _value("ssh_host", vm_, opts)
    user = _value("ssh_username", vm_, opts, "root")
    sudo = _value("sudo", vm_, opts, user != "root")
    minion_conf = salt.utils.cloud.minion_config(opts, vm_)
    script = salt.utils.cloud.os_script(_value("os", vm_, opts, "bootstrap-salt"), vm_, opts, minion_conf)
    if not script:
        raise salt.exceptions.SaltCloudConfigError(
            f"deploy script {_value('os', vm_, opts)!r} not found in "
            f"{opts.get('deploy_scripts_search_path')}")
    minion_id = _minion_id(vm_)
    if "pub_key" not in vm_ and "priv_key" not in vm_:
        vm_["priv_key"], vm_["pub_key"] = salt.utils.cloud.gen_keys(_value("keysize", vm_, opts))
        salt.utils.cloud.accept_key(opts["pki_dir"], vm_["pub_key"], minion_id)
    files = {}
    if _value("make_minion", vm_, opts, True):
        files = _files(vm_, opts, minion_conf, extension_files)
    files["deploy.sh"] = (script, 0o700)
    tmp_dir = f"{_value('tmp_dir', vm_, opts, '/tmp/.saltcloud').rstrip('/')}-{uuid.uuid4()}"
    event_args = {"name": name, "host": host, "username": user, "tmp_dir": tmp_dir,
                  "script_args": _value("script_args", vm_, opts), "files": sorted(files)}
    _event(opts, "executing deploy script", f"salt/cloud/{name}/deploying",
           {"kwargs": salt.utils.data.simple_types_filter(event_args)})
    if not salt.utils.cloud.wait_for_port(host=host, port=_port(vm_, opts),
                                          timeout=int(_value("ssh_connect_timeout", vm_, opts, 900))):
        return {"Error": {"Not Deployed": f"SSH port of {name} ({host}) never opened"}}
    # Listening before the script starts the minion: its start event cannot be missed.
    with _connection(vm_, opts, host) as control, \
            salt.utils.event.SaltEvent("master", opts["sock_dir"], listen=True) as bus:
        _wait_login(vm_, opts, host, control)
        started = time.monotonic()
        proc = _ssh(vm_, opts, host, _remote_command(tmp_dir, files, vm_, opts, sudo), _archive(files),
                    timeout=int(_value("deploy_timeout", vm_, opts, 900)), control=control)
        if not proc.returncode and files.get("minion"):
            waited = _wait_minion_start(bus, minion_id, vm_, opts)
            if waited:
                return {"Error": {"Not Deployed": waited}}
    out = (proc.stdout + proc.stderr).decode(errors="replace").strip()
    for line in out.splitlines():
        log.info("%s deploy: %s", name, line)
    if proc.returncode:
        tail = " | ".join(out.splitlines()[-5:])
        why = f"the deploy script on {name} ({host}) exited {proc.returncode}: {tail}"
        return {"Error": {"Not Deployed": why}}
    log.info("Salt installed on %s in one SSH session (%.1fs)", name, time.monotonic() - started)
    _event(opts, f"{name} has been deployed at {host}", f"salt/cloud/{name}/deploy_script",
           {"name": name, "host": host})
    return {"deployed": True, "deploy_kwargs": event_args}
