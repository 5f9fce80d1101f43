#!/bin/bash
# Vent's salt-cloud deploy script (profile option `script: vent-minion`).
#
# Installs the pinned Salt minion into a venv with pip -- from PyPI, from an index
# mirror, or offline from a wheelhouse directory -- never from the salt-bootstrap
# download. Takes the minion config, grains and pre-accepted keys that salt-cloud uploads
# beside this script (and the extension modules Vent's deploy adds), and runs the
# minion under systemd.
#
# usage: vent-minion.sh [-c DIR] [-w WHEELHOUSE] [-i INDEX_URL] [-v VERSION]
#                       [-p PREFIX] [-r ROOT] [-n] [-h]
#   -c DIR        files from salt-cloud: minion, grains, minion.pem, minion.pub,
#                 extmods/ (default: this script's directory, where salt-cloud puts them)
#   -w DIR        offline: install from the wheels in DIR (pip --no-index), e.g. made
#                 with `pip download -d DIR salt==3008.4` and copied to the machine
#   -i URL        a PyPI mirror (pip --index-url)
#   -v VERSION    Salt version (default 3008.4, Vent's pin)
#   -p PREFIX     venv directory (default /opt/vent/salt)
#   -r ROOT       write /etc and /var files under ROOT (image building, tests)
#   -n            install and configure, but do not start the minion
# The same settings as environment (salt-cloud `script_env`): VENT_WHEELHOUSE,
# VENT_INDEX_URL, VENT_SALT_VERSION, VENT_SALT_PREFIX, VENT_ROOT, VENT_NO_START=1.
# Profile example for an offline site:  script_args: -w /srv/wheelhouse
set -euo pipefail

SRC=$(cd "$(dirname "$0")" && pwd)
WHEELHOUSE=${VENT_WHEELHOUSE:-}
INDEX_URL=${VENT_INDEX_URL:-}
VERSION=${VENT_SALT_VERSION:-3008.4}
PREFIX=${VENT_SALT_PREFIX:-/opt/vent/salt}
ROOT=${VENT_ROOT:-}
START=1
[ "${VENT_NO_START:-0}" = 1 ] && START=0

die() { echo "vent-minion: $*" >&2; exit 1; }
say() { echo "vent-minion: $*"; }
usage() { sed -n '10,22p' "$0" | sed 's/^# \{0,1\}//'; }

while getopts "c:w:i:v:p:r:nh" opt; do
  case "$opt" in
    c) SRC=$OPTARG ;;
    w) WHEELHOUSE=$OPTARG ;;
    i) INDEX_URL=$OPTARG ;;
    v) VERSION=$OPTARG ;;
    p) PREFIX=$OPTARG ;;
    r) ROOT=$OPTARG ;;
    n) START=0 ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || die "unexpected arguments: $*"
[ -z "$WHEELHOUSE" ] || [ -d "$WHEELHOUSE" ] || die "wheelhouse $WHEELHOUSE is not a directory"
[[ "$VERSION" =~ ^[0-9][0-9.]*$ ]] || die "Salt version '$VERSION' is not a version number"
case "$PREFIX" in /*) ;; *) die "prefix $PREFIX must be an absolute path" ;; esac

python_with_venv() {
  if python3 -c 'import ensurepip, venv' 2>/dev/null; then return 0; fi
  # Debian splits venv/ensurepip out of python3; only fetch it when online.
  if [ -z "$WHEELHOUSE" ] && command -v apt-get >/dev/null; then
    say "installing python3-venv"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; }
  fi
  python3 -c 'import ensurepip, venv' 2>/dev/null \
    || die "python3 with the venv module is required (Debian: apt-get install python3-venv)"
}

installed_version() {
  "$PREFIX/bin/python" -c 'import importlib.metadata as m; print(m.version("salt"))' 2>/dev/null || true
}

install_salt() {
  if [ -x "$PREFIX/bin/python" ] && [ "$(installed_version)" = "$VERSION" ]; then
    say "salt $VERSION already installed in $PREFIX"
    return 0
  fi
  command -v python3 >/dev/null || die "python3 is required on the machine"
  python_with_venv
  [ -x "$PREFIX/bin/python" ] || python3 -m venv "$PREFIX"
  local pip=("$PREFIX/bin/python" -m pip install -q --disable-pip-version-check)
  if [ -n "$WHEELHOUSE" ]; then
    pip+=(--no-index --find-links "$WHEELHOUSE")
  elif [ -n "$INDEX_URL" ]; then
    pip+=(--index-url "$INDEX_URL")
  fi
  say "installing salt $VERSION into $PREFIX${WHEELHOUSE:+ from $WHEELHOUSE}"
  "${pip[@]}" "salt==$VERSION" || die "pip could not install salt==$VERSION"
  [ "$(installed_version)" = "$VERSION" ] || die "salt $VERSION not importable after install"
}

# Salt 3008.4 fixes Vent carries, each reported upstream-style in docs/upstream/:
# - crypt.py: the minion loads its RSA key again for each request channel a job opens,
#   and cryptography validates the key on every load: 36 ms each, some 20 loads in a
#   worker's deploy (salt-crypt-private-key-validation.md). The loaded key is kept for
#   the process, per key content, so a job forked from the minion uses the key the
#   minion validated at its start.
# - utils/optsdict.py: every module a loader loads gets a child of the loader's opts,
#   and creating one counted the parent's keys through its whole parent chain (a
#   truthiness test): 0.05 s of CPU in a worker's state run, 186 copies
#   (salt-optsdict-parent-len.md). The test now asks for a parent, not for its length.
# - modules/systemd_service.py: service.running ran `systemctl status` two and three
#   times in a row for one answer, 14 times for a service it starts and enables: 104 of
#   the 386 `systemctl` runs of a 1 + 2 deploy, and about 0.1 core-seconds of each
#   node's PID 1 (salt-systemd-status-repeated.md). A check for unit changes now runs
#   it once and hands the answer to the question that follows it, unless it reloaded
#   systemd.
# Only a file of the release a fix was written for (its sha256) is changed; any other is
# left as it is, with a warning.
carry_salt_fixes() {
  "$PREFIX/bin/python" - <<'PY'
import hashlib
import importlib.util
import os
import sys
import tempfile

CRYPT_RELEASED = "ada70d0fdf49523d3c594b7c49a4b154460b015a1ef1d13948fba5137a9ea81f"  # 3008.4
CRYPT_CARRIED = "c317aa6f898a9ddb3e4100457fafa9187ca075a1a9550010420f05c21bc24cfd"
LOAD = "            self._private_key = PrivateKey.from_str(priv, None)\n"
CACHED_LOAD = "            self._private_key = _private_key_from_pem(priv)\n"
BEFORE = "class PrivateKeyString(PrivateKey):\n"
CACHE = """# Vent: each new AsyncAuth (one per event loop, so one per request channel of a job)
# loaded the key again, and cryptography validates an RSA key on every load (36 ms
# for 2048 bits). The key is kept per process and content: a job forked from the
# minion uses the one the minion loaded; a changed key file is loaded anew.
_LOADED_PRIVATE_KEYS = {}


def _private_key_from_pem(pem):
    key = _LOADED_PRIVATE_KEYS.get(pem)
    if key is None:
        key = PrivateKey.from_str(pem, None)
        _LOADED_PRIVATE_KEYS.clear()
        _LOADED_PRIVATE_KEYS[pem] = key
    return key


"""

OPTSDICT_RELEASED = "0a6002672ab33127cc7debd999ad28b5e46114ae689620c9603249ac2814ef42"  # 3008.4
OPTSDICT_CARRIED = "f63ea0c069cfb4cc5621c0ed28f332ee46f4508baa76a6df0e78ea452fe3b818"
PARENT_TEST = "        if parent and parent._tracker:\n"
PARENT_TEST_CARRIED = """        # Vent: `parent and` called len(parent), which looks up every key through the
        # parent chain, for each module a loader loads.
        if parent is not None and parent._tracker:
"""

SYSTEMD_SERVICE_RELEASED = "1eddc259c23d1b5b3ecec6164fa37279e1742ea2b1d74ba8e2f814b19f436cd6"  # 3008.4
SYSTEMD_SERVICE_CARRIED = "423a5664a037f4744b411fe32e234494d30c15da55970b5f3c271d5575f7ad6e"
VENT_STATUS = """    # Vent: one `systemctl status` answers both checks (each ran its own), and it is
    # handed to the caller's next question unless a daemon-reload made it stale.
"""
SYSTEMD_SERVICE_FIXES = [
    ("def _check_available(name):\n", "def _check_available(name, status=None):\n"),
    ("    _status = _systemctl_status(name)\n    sd_version",
     "    _status = _systemctl_status(name) if status is None else status\n    sd_version"),
    ("    if _untracked_custom_unit_found(name) or _unit_file_changed(name):\n"
     "        systemctl_reload()\n",
     VENT_STATUS + "    status = _systemctl_status(name)\n"
     "    if _untracked_custom_unit_found(name, status=status) or _unit_file_changed(\n"
     "        name, status=status\n    ):\n        systemctl_reload()\n        return None\n"
     "    return status\n"),
    ("def _untracked_custom_unit_found(name, root=None):\n",
     "def _untracked_custom_unit_found(name, root=None, status=None):\n"),
    ("    return os.access(unit_path, os.R_OK) and not _check_available(name)\n",
     "    return os.access(unit_path, os.R_OK) and not _check_available(name, status=status)\n"),
    ("def _unit_file_changed(name):\n", "def _unit_file_changed(name, status=None):\n"),
    ("    status = _systemctl_status(name)[\"stdout\"].lower()\n",
     "    status = (_systemctl_status(name) if status is None else status)[\"stdout\"].lower()\n"),
    ("    _check_for_unit_changes(name)\n    return _check_available(name)\n",
     "    return _check_available(name, status=_check_for_unit_changes(name))\n"),
]

FIXES = [  # what, file in salt/, released sha256, carried sha256, replacements
    ("key-load fix", "crypt.py", CRYPT_RELEASED, CRYPT_CARRIED,
     [(LOAD, CACHED_LOAD), (BEFORE, CACHE + BEFORE)]),
    ("opts-copy fix", "utils/optsdict.py", OPTSDICT_RELEASED, OPTSDICT_CARRIED,
     [(PARENT_TEST, PARENT_TEST_CARRIED)]),
    ("systemctl-status fix", "modules/systemd_service.py", SYSTEMD_SERVICE_RELEASED,
     SYSTEMD_SERVICE_CARRIED, SYSTEMD_SERVICE_FIXES),
]


def sha256(text):
    return hashlib.sha256(text.encode()).hexdigest()


spec = importlib.util.find_spec("salt")
package = list(spec.submodule_search_locations)[0] if spec else ""
for what, name, released, carried_sha, replacements in FIXES:
    path = os.path.join(package, name)
    if not package or not os.path.isfile(path):
        print(f"vent-minion: no salt/{name} in {sys.prefix}: the {what} is not carried")
        continue
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if sha256(text) == carried_sha:
        continue
    if sha256(text) != released:
        print(f"vent-minion: warning: {path} is not Salt 3008.4's: the {what} is not carried",
              file=sys.stderr)
        continue
    carried = text
    for old, new in replacements:
        carried = carried.replace(old, new, 1)
    if sha256(carried) != carried_sha:
        sys.exit(f"vent-minion: carrying the {what} into {path} gave an unexpected file")
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=f".{os.path.basename(name)}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(carried)
    os.chmod(tmp, os.stat(path).st_mode & 0o7777)
    os.replace(tmp, path)
    print(f"vent-minion: carried the {what} into {path}")
PY
}

install_config() {
  local etc=$ROOT/etc/salt
  install -d -m 0755 "$etc/minion.d"
  install -d -m 0700 "$etc/pki/minion"
  # Fast first contact with the master; the deploy waits for the minion's key.
  cat >"$etc/minion.d/00-vent.conf" <<CONF
# Written by vent-minion.sh; settings from salt-cloud are in 99-salt-cloud.conf.
acceptance_wait_time: 1
auth_timeout: 5
# Salt looks up "<state>.mod_run_check" before each onlyif/unless/creates; when the
# state has none, the loader's fallback imports every module Salt ships to look for
# it (1 to 2.5 s of each state job here). Strict matching looks only in the modules
# whose file name holds the name asked for.
lazy_loader_strict_matching: true
# x509.* is x509_v2, Salt's default since 3008. Asked for it, the loader first imports
# the superseded x509 module, whose __virtual__ then declines: its pyOpenSSL import
# costs every job that signs or reads a certificate 40 ms or more.
disable_modules: [x509]
CONF
  if [ -f "$SRC/minion" ]; then
    install -m 0644 "$SRC/minion" "$etc/minion.d/99-salt-cloud.conf"
  fi
  if [ -f "$SRC/grains" ]; then
    install -m 0644 "$SRC/grains" "$etc/grains"
  fi
  if [ -f "$SRC/minion.pem" ] && [ -f "$SRC/minion.pub" ]; then
    install -m 0600 "$SRC/minion.pem" "$etc/pki/minion/minion.pem"
    install -m 0644 "$SRC/minion.pub" "$etc/pki/minion/minion.pub"
  fi
  install -d -m 0755 "$ROOT/usr/local/bin"
  for tool in salt-call salt-minion; do
    ln -sfn "$PREFIX/bin/$tool" "$ROOT/usr/local/bin/$tool"
  done
}

# The master's extension modules that came with the files (extmods/<kind>/...), where
# a sync would write them: the minion starts with them, and the orchestration's refresh
# step finds nothing to sync here (a job and some fifty file requests to the master
# for each new node). Each kind that came replaces the minion's copy, as its sync
# would; other kinds stay. A config that moves the minion's cache leaves it to the sync.
install_extmods() {
  [ -d "$SRC/extmods" ] || return 0
  if grep -qsE '^(root_dir|cachedir|extension_modules):' "$SRC/minion"; then
    say "the minion config moves its cache: the orchestration syncs the extension modules"
    return 0
  fi
  local extmods=$ROOT/var/cache/salt/minion/extmods kind
  install -d -m 0700 "$ROOT/var/cache/salt/minion"
  install -d -m 0755 "$extmods"
  for kind in "$SRC"/extmods/*/; do
    kind=$(basename "$kind")
    rm -rf "${extmods:?}/$kind"
    cp -R "$SRC/extmods/$kind" "$extmods/$kind"
  done
}

install_unit() {
  install -d -m 0755 "$ROOT/etc/systemd/system"
  # KillMode=mixed + short stop timeout: the minion's children must not outlive a stop,
  # and a hung minion must not hold up shutdown or a restart by minutes. systemd restarts
  # the minion, so it runs without Salt's keepalive supervisor (a second Python
  # process of about 45 MiB on every node); the exit code with which the minion asks
  # that supervisor for a restart is a failure to systemd, so it is restarted too.
  cat >"$ROOT/etc/systemd/system/salt-minion.service" <<UNIT
[Unit]
Description=Salt minion (Vent)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=$PREFIX/bin/salt-minion --disable-keepalive
KillMode=mixed
TimeoutStopSec=10
Restart=on-failure
RestartSec=3
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
UNIT
}

start_minion() {
  [ "$START" = 1 ] || { say "not starting the minion (-n)"; return 0; }
  command -v systemctl >/dev/null || die "systemctl not found: the minion runs under systemd"
  # enable reloads systemd by itself; --no-reload and one daemon-reload after it
  # save a second reload (0.1 s of the machine's PID 1 on every deploy).
  systemctl enable --no-reload salt-minion.service >/dev/null 2>&1
  systemctl daemon-reload
  # restart, not start: a re-deploy brings new config/keys.
  systemctl restart salt-minion.service
  say "salt-minion started"
}

install_salt
carry_salt_fixes
install_config
install_extmods
install_unit
start_minion
