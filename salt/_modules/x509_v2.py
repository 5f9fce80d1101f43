"""Salt's own x509_v2 execution module (``x509.*``), carried with three changes.

The first is carried until Salt's master answers a peer runner call at what the
runner costs (docs/upstream/salt-master-peer-runner-cost.md).

A signing policy whose ``minions`` is a compound target makes the CA minion ask the
master whether the requesting minion matches, once for each certificate it signs:
a ``match.compound_matches`` runner call, which costs the master about 0.26 s of
CPU. A node asks for its policies (``vent_pki.remote_signing_policies``) and then
has each of its certificates signed within seconds, so a deploy asked the same
question four times per node. The CA minion now keeps the master's "yes" for
``MATCH_SECONDS`` and asks again after that. A "no" is never kept: a node whose grains
the master did not have yet is asked about again at its next request. Keeping a
match adds no trust the match did not already give: the master answers from the
grains the minion itself reported.

The second is Vent's own: a node whose certificates are missing asks the CA minion
to sign them all in one request. The pki formula queues x509_v2's request for each
before the certificate states (``vent_pki.queue_signing``); a request to sign
(``_query_remote``) that was queued takes its answer from ``vent_pki.queued_certificate``,
the first of them asking for all. One job of the CA minion and one peer publish per node,
not one per certificate. A request not queued, or not answered, is Salt's own.

The third is the states' too (salt/_states/x509_v2.py): ``x509util`` loads each private
key once for each content it has during the job (``vent_upstream.keys_loaded_once``).
The CA minion signs a node's certificates in one job, and loaded its CA key again for
each: 0.33 s of CPU per certificate for an RSA-4096 CA
(docs/upstream/x509_v2-private-key-loaded-twice.md).

Everything else is the installed Salt's module, unchanged: its functions are bound to
this module's globals (``vent_upstream.carry``), so they see this module's dunders,
its ``_match_minions`` and its ``_query_remote``. Where the installed function is not
the one this was written against, it is Salt's as it stands.
"""

import contextlib
import json
import logging
import os
import tempfile
import time

import salt.modules.x509_v2 as _upstream

log = logging.getLogger(__name__)

__virtualname__ = "x509"

# sha256 of the source of salt/modules/x509_v2.py:_match_minions in Salt 3008.4.
KEPT_UPSTREAM_SOURCE = "c1bee4db57c9452232d301f53e771c029e2c11a20dae3a74421a058d7150c4da"
# sha256 of the source of salt/modules/x509_v2.py:_query_remote in Salt 3008.4, which
# returns the certificate (DER) of the CA minion's answer.
QUERY_UPSTREAM_SOURCE = "8f1e2f67dfbcc27cd5a56700e8068594b0e91c8b3af81561dafd09e4e108f5e5"

# How long a match is kept: a node's policy request and its signings come within
# seconds of each other, even on a loaded master.
MATCH_SECONDS = 60

_salt_own = {}  # Salt's functions bound to this module, which vent_upstream.carry fills


def __virtual__():
    if "vent_upstream.carry" not in __utils__:
        return False, "Vent's salt/_utils are not on this minion: run saltutil.sync_utils"
    globals()["x509util"] = __utils__["vent_upstream.keys_loaded_once"]()
    return __utils__["vent_upstream.carry"](
        _upstream, globals(), {"_match_minions": (_match_minions_kept, KEPT_UPSTREAM_SOURCE),
                               "_query_remote": (_query_remote_queued, QUERY_UPSTREAM_SOURCE)})


def _matches_file():
    return os.path.join(__opts__["cachedir"], "vent_pki", "compound_matches.json")


def _kept(now):
    """{key: expiry} of the matches still kept at ``now``. An expiry further away than
    ``MATCH_SECONDS`` (the clock was set back) is not trusted."""
    try:
        with open(_matches_file(), encoding="utf-8") as fh:
            kept = json.load(fh)
    except (OSError, ValueError):
        return {}
    if not isinstance(kept, dict):
        return {}
    return {key: expiry for key, expiry in kept.items()
            if isinstance(expiry, (int, float)) and now < expiry <= now + MATCH_SECONDS}


def _keep(key, now):
    """Add a match to the file, written whole and renamed into place: signing jobs run
    side by side, and a match one of them loses is only asked for again."""
    kept = _kept(now)
    kept[key] = now + MATCH_SECONDS
    directory = os.path.dirname(_matches_file())
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".matches-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(kept, fh)
        os.replace(tmp, _matches_file())
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def _match_minions_kept(test, minion):
    """``_match_minions``, with the master's yes to a compound ``test`` kept for
    ``MATCH_SECONDS``."""
    if "@" not in test:
        return _salt_own["_match_minions"](test, minion)
    key = json.dumps([test, minion])
    if key in _kept(time.time()):
        log.debug("x509_v2: %s matched %s less than %ss ago", minion, test, MATCH_SECONDS)
        return True
    if not _salt_own["_match_minions"](test, minion):
        return False
    try:
        _keep(key, time.time())
    except OSError as exc:  # the next signing asks the master again
        log.warning("x509_v2: could not keep the match of %s in %s: %s", minion, _matches_file(), exc)
    return True


def _query_remote_queued(ca_server, signing_policy, kwargs, get_signing_policy_only=False):
    """``_query_remote``; a request to sign that the pki formula queued is answered by
    ``vent_pki.queued_certificate``, with the CA minion's certificate for it."""
    if not get_signing_policy_only and "vent_pki.queued_certificate" in __salt__:
        signed = __salt__["vent_pki.queued_certificate"](ca_server, signing_policy, kwargs)
        if signed is not None:
            return signed
    return _salt_own["_query_remote"](ca_server, signing_policy, kwargs, get_signing_policy_only)
