"""Vent's PKI plan: which certificates a node needs, with which names, and how the CA
signs them.

The PKI states, the CA's pillar (signing policies) and the kubeconfig runner all ask
this module, so a SAN list, an owner or a subject is written down once. Cluster members
come from the mine (``vent_node``), settings from pillar ``vent``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import time

import salt.channel.client
import salt.modules.x509_v2
import salt.utils.x509 as x509util
from salt.exceptions import CommandExecutionError, SaltInvocationError, SaltReqTimeoutError

try:  # saltext-vent: Salt's loader gives an extension's modules no __utils__ (README)
    from saltext.vent import util as _packaged_util
except ImportError:  # this checkout's *_dirs, or the modules synced from it
    _packaged_util = None


def _util(name):
    """``vent_<module>.<function>``: the package's when installed, else the loader's."""
    return _packaged_util(name, __opts__) if _packaged_util else __utils__[name]


log = logging.getLogger(__name__)

__virtualname__ = "vent_pki"

CA_MINE = "vent_ca_cert"
FRONT_PROXY_CA_MINE = "vent_front_proxy_ca_cert"
ETCD_CA_MINE = "vent_etcd_ca_cert"

# Extensions shared by every leaf certificate; the policies add usage and subject.
_LEAF = {
    "basicConstraints": "critical, CA:false",
    "keyUsage": "critical, digitalSignature, keyEncipherment",
    "subjectKeyIdentifier": "hash",
    "authorityKeyIdentifier": "keyid:always",
}
SERVER = "serverAuth"
CLIENT = "clientAuth"

# name -> (CN or None: from the request, O or None, extended key usages, CA, holders)
# A fixed CN/O in the policy cannot be overridden by the requesting node. `holders` is
# the group of vent_model.certificate_holders that may request it: without it, any
# minion with peer access could have itself a system:masters certificate signed.
# etcd trusts its own CA alone, so no other certificate of the cluster (a kubelet's,
# say) is an etcd client; the API server's etcd client certificate comes from it.
POLICIES = {
    "apiserver": ("kube-apiserver", None, [SERVER], "ca", "controller"),
    "apiserver-kubelet-client": (
        "kube-apiserver-kubelet-client", "system:masters", [CLIENT], "ca", "controller"),
    "apiserver-etcd-client": ("kube-apiserver-etcd-client", None, [CLIENT], "etcd", "controller"),
    "etcd-server": (None, None, [SERVER, CLIENT], "etcd", "etcd"),
    "etcd-peer": (None, None, [SERVER, CLIENT], "etcd", "etcd"),
    "kubelet": (None, "system:nodes", [CLIENT], "ca", "node"),
    "kubelet-serving": (None, "system:nodes", [SERVER], "ca", "node"),
    "kube-proxy": ("system:kube-proxy", "system:node-proxier", [CLIENT], "ca", "node"),
    "kube-controller-manager": (
        "system:kube-controller-manager", "system:kube-controller-manager", [CLIENT], "ca",
        "controller"),
    "kube-scheduler": (
        "system:kube-scheduler", "system:kube-scheduler", [CLIENT], "ca", "controller"),
    "admin": ("admin", "system:masters", [CLIENT], "ca", "controller"),
    # O comes from vent:pki:developer_group, which the CA's pillar cannot see; the
    # policy is therefore usable only by the CA minion itself (the kubeconfig runner
    # signs on the CA minion directly, never through peer publish).
    "developer": ("developer", None, [CLIENT], "ca", "ca"),
    "front-proxy-client": ("front-proxy-client", None, [CLIENT], "front_proxy", "controller"),
}
OPERATOR_USERS = ("admin", "developer")


def __virtual__():
    return __virtualname__


def policy_name(kind):
    return f"vent-{kind}"


# --- the CA side ------------------------------------------------------------------


def signing_policies(ca, ca_minion=None):
    """``x509_signing_policies`` for the CA minion's pillar.

    ``ca`` is pillar ``vent:pki:ca`` (``key``, ``cert``, ``front_proxy_key``,
    ``front_proxy_cert``, PEM). Policies sign with the PEM from pillar, so the key is
    never looked up on disk; validity comes from the requesting node's
    ``vent:pki:days_valid`` (the CA's pillar file cannot see the other pillar files).
    """
    signers = {
        "ca": {"key": ca.get("key"), "cert": ca.get("cert")},
        "front_proxy": {"key": ca.get("front_proxy_key"), "cert": ca.get("front_proxy_cert")},
        "etcd": _etcd_signer(ca),
    }
    holders = _model("certificate_holders", ca_minion or "vent-nobody")
    out = {}
    for kind, (cn, org, ekus, which, group) in POLICIES.items():
        signer = signers[which]
        if not signer["key"] or not signer["cert"]:
            continue
        policy = [
            {"signing_private_key": signer["key"]},
            {"signing_cert": signer["cert"]},
            *({k: v} for k, v in _LEAF.items()),
            {"extendedKeyUsage": ", ".join(ekus)},
        ]
        if cn:
            policy.append({"CN": cn})
        if org:
            policy.append({"O": org})
        policy.append({"minions": holders[group]})
        out[policy_name(kind)] = policy
    return out


# sha256 of the source of salt/modules/x509_v2.py:sign_remote_certificate in Salt
# 3008.4, whose answer to get_signing_policy_only _policy_answer gives in its place.
ANSWER_SOURCE = "54cbd8254033412af7b342c0715c02ea7f9188528e730fb4fb71e19b04cae1a8"


def _policy_answer(policy):
    """x509_v2's answer (sign_remote_certificate, get_signing_policy_only) with
    ``policy`` (``x509.get_signing_policy``'s) to a minion already found to match its
    ``minions``."""
    policy = dict(policy)
    for secret in ("minions", "signing_private_key", "signing_private_key_passphrase"):
        policy.pop(secret, None)
    if "signing_cert" in policy:
        try:
            policy["signing_cert"] = x509util.to_der(x509util.load_cert(policy["signing_cert"]))
        except (CommandExecutionError, SaltInvocationError) as err:
            return {"data": None, "errors": [str(err)]}
    return {"data": policy, "errors": []}


def remote_signing_policies(names, **kwargs):
    """Peer function of the CA minion: ``{name: answer}`` for the signing policies
    ``names``, each answer x509_v2's own (``x509.sign_remote_certificate`` with
    ``get_signing_policy_only``) to the minion asking (``__pub_id``, which Salt sets
    from the request), so x509_v2 decides who may have each. A node asks once for all
    its policies instead of once per certificate; and x509_v2 asks the master whether
    the node matches a policy's ``minions`` once per expression, not once per policy
    (its answer for the next policy of the same ``minions`` is the same)."""
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise SaltInvocationError(f"names: a list of signing policy names, not {names!r}")
    asker = {key: value for key, value in kwargs.items() if key == "__pub_id"}
    digest = _util("vent_upstream.source_digest")
    same_answer = digest(salt.modules.x509_v2.sign_remote_certificate) == ANSWER_SOURCE
    granted, answers = set(), {}
    for name in names:
        policy = (__salt__["x509.get_signing_policy"](name) or {}) if same_answer else {}
        holders = policy.get("minions") if isinstance(policy.get("minions"), str) else None
        if holders is not None and holders in granted:
            answers[name] = _policy_answer(policy)
            continue
        answers[name] = __salt__["x509.sign_remote_certificate"](name, {}, True, **asker)
        if holders is not None and not answers[name].get("errors"):
            granted.add(holders)
    return answers


def sign_remote_certificates(requests, **kwargs):
    """Peer function of the CA minion: x509_v2's answer (``x509.sign_remote_certificate``)
    to each of ``requests`` (``[[signing policy, kwargs], ...]``, what x509_v2 would
    send one request each) for the minion asking (``__pub_id``), in order. A node whose
    certificates are missing has them all signed in one job of the CA minion instead
    of one job each; x509_v2 still decides, for each, whether the node may have it and
    what goes into it."""
    if not isinstance(requests, list) or not requests or not all(
            isinstance(r, list) and len(r) == 2 and isinstance(r[0], str) and r[0]
            and isinstance(r[1], dict) for r in requests):
        raise SaltInvocationError(f"requests: a list of [signing policy, kwargs], not {requests!r}")
    asker = {key: value for key, value in kwargs.items() if key == "__pub_id"}
    return [__salt__["x509.sign_remote_certificate"](policy, dict(request), **asker)
            for policy, request in requests]


def _etcd_signer(ca):
    """The etcd CA's key and certificate. A CA made before Vent had one (no
    ``etcd_key`` in pillar) signs etcd's certificates itself, as it always did: etcd
    then keeps trusting the cluster CA, so that cluster goes on working unchanged."""
    if ca.get("etcd_key") and ca.get("etcd_cert"):
        return {"key": ca["etcd_key"], "cert": ca["etcd_cert"]}
    return {"key": ca.get("key"), "cert": ca.get("cert")}


def ca_cert():
    """Mine function of the CA minion: the CA certificate (PEM), never the key."""
    return (_pki().get("ca") or {}).get("cert") or ""


def etcd_ca_cert():
    """Mine function of the CA minion: the certificate etcd trusts (PEM)."""
    return _etcd_signer(_pki().get("ca") or {})["cert"] or ""


def front_proxy_ca_cert():
    """Mine function of the CA minion: the front-proxy CA certificate (PEM)."""
    return _pki().get("ca", {}).get("front_proxy_cert") or ""


# --- the node side: its policies, and its missing certificates, in one request each ---

# sha256 of the source of salt/modules/x509_v2.py:get_signing_policy in Salt 3008.4,
# which keeps the policies it fetched from a CA minion during a state run in
# __context__["_x509_policies"][ca_server][name] (the signing certificate as PEM) and
# asks the CA only for those it does not have there.
POLICY_CACHE_SOURCE = "efd6264ae143ef483ef70a1c3a62c65fde6f3d60deaa162cdbbd6fef052a2584"
POLICY_CACHE = "_x509_policies"


def signing_args(spec):
    """The arguments of ``x509.certificate_managed`` that decide what the CA signs for
    the certificate ``spec`` (of ``certs``), as the pki formula's states pass them and
    ``queue_signing`` sends them: the file, the CA minion (none on the CA minion, which
    signs its own), the policy, the key and the subject. ``digest`` is x509_v2's
    default, named so the one request for a node's certificates carries what each
    state's own request would."""
    settings_ = settings()
    path = f"{settings_['dir']}/{spec['name']}"
    args = {"name": f"{path}.crt", "signing_policy": spec["policy"], "private_key": f"{path}.key",
            "CN": spec["CN"], "days_valid": settings_["days_valid"], "digest": "sha256"}
    if not is_ca():
        args["ca_server"] = settings_["ca_minion"]
    if spec["O"]:
        args["O"] = spec["O"]
    if spec["sans"]:
        args["subjectAltName"] = spec["sans"]
    return args


def remotely_signed(nodes_=None):
    """``signing_args`` of each of this node's certificates that the CA minion signs for
    it (none on the CA minion, which signs its own)."""
    if is_ca():
        return []
    nodes_ = nodes() if nodes_ is None else nodes_
    return [signing_args(c) for kind in ("etcd", "controller", "node") for c in certs(kind, nodes_)]


# The peer functions the CA minion answers with a node's policies and with its
# certificates, and how long and how often to ask the master for an answer:
# publish.publish asks every 0.3 s, a third of the time the CA minion takes to answer.
REMOTE_POLICIES = "vent_pki.remote_signing_policies"
REMOTE_CERTIFICATES = "vent_pki.sign_remote_certificates"
ANSWER_SECONDS = 60
ASK_EVERY_SECONDS = 0.05


def _channel():
    """This minion's request channel to the master, as publish.publish opens it; one
    for the request and all the asks for its answer (a channel each cost 50-100 ms on
    a busy node: an event loop, a socket and the minion key read again)."""
    return salt.channel.client.ReqChannel.factory(__opts__, master_uri=__opts__["master_uri"])


def _ask(ca_server, fun, arg, what):
    """publish.publish of the peer function ``fun`` with ``arg`` to ``ca_server`` (the
    same request, which the master checks against its peer setting alike), asking for
    the answer more often: the CA minion's answer, or None. ``what`` names the request
    in the log."""
    if "master_uri" not in __opts__:  # masterless: no CA minion to ask
        return None
    try:
        with _channel() as channel:
            sent = channel.send({"cmd": "minion_pub", "fun": fun, "arg": arg,
                                 "tgt": ca_server, "tgt_type": "glob", "ret": "", "tmo": ANSWER_SECONDS,
                                 "form": "clean", "id": __opts__["id"],
                                 "no_parse": __opts__.get("no_parse", [])})
            if not isinstance(sent, dict) or not sent.get("jid"):
                return None
            log.info("Asked %s for %s (job %s)", ca_server, what, sent["jid"])
            deadline = time.monotonic() + ANSWER_SECONDS
            while time.monotonic() < deadline:
                returns = channel.send({"cmd": "pub_ret", "id": __opts__["id"], "jid": sent["jid"]})
                if isinstance(returns, dict) and isinstance(returns.get(ca_server), dict):
                    return returns[ca_server].get("ret")
                time.sleep(ASK_EVERY_SECONDS)
    except SaltReqTimeoutError:
        return None
    return None


def fetch_signing_policies(ca_server, names):
    """Ask ``ca_server`` for the signing policies ``names`` in one peer request
    (``remote_signing_policies``) and keep each one granted where x509_v2 keeps the
    policies it fetched during this run, so its certificate states do not ask again,
    one request (about 0.6 s) each. ``{"fetched": [name, ...], "left": {name: why}}``:
    a policy left (refused, or no answer) is asked for by its certificate state, as
    without this, and that state reports the CA's answer."""
    names = sorted(set(names or []))
    if not names:
        return {"fetched": [], "left": {}}
    if _util("vent_upstream.source_digest")(salt.modules.x509_v2.get_signing_policy) != POLICY_CACHE_SOURCE:
        why = "the installed Salt's x509_v2 is not the one whose policy cache Vent fills"
        return {"fetched": [], "left": dict.fromkeys(names, why)}
    answer = _ask(ca_server, REMOTE_POLICIES, [names], f"the signing policies {', '.join(names)}")
    if not isinstance(answer, dict):
        why = f"{ca_server} did not answer {REMOTE_POLICIES} (the master's peer setting must allow it)"
        return {"fetched": [], "left": dict.fromkeys(names, why)}
    cache = __context__.setdefault(POLICY_CACHE, {}).setdefault(ca_server, {})
    fetched, left = [], {}
    for name in names:
        one = answer.get(name)
        if not isinstance(one, dict) or one.get("errors") or not isinstance(one.get("data"), dict):
            errors = one.get("errors") if isinstance(one, dict) else None
            left[name] = "; ".join(map(str, errors)) if errors else "no policy in the answer"
            continue
        policy = dict(one["data"])
        if "signing_cert" in policy:
            policy["signing_cert"] = x509util.to_pem(x509util.load_cert(policy["signing_cert"])).decode()
        cache.setdefault(name, policy)
        fetched.append(name)
    return {"fetched": fetched, "left": left}



# A node's requests for its missing certificates, queued in a state run before the
# certificate states (``queue_signing``) and sent in one request when the first of
# them asks (``queued_certificate``): __context__[SIGNING_QUEUE][ca_server].
SIGNING_QUEUE = "vent_pki_signing_queue"
# What x509_v2 sends for a certificate besides its arguments: it names the CA minion
# and the policy apart, and sends the private key's public half (_create_certificate_remote).
_NOT_SENT = ("name", "ca_server", "signing_policy", "private_key")


def _request_key(ca_server, signing_policy, kwargs):
    """One request to the CA minion, however its arguments were spelt: an argument
    left unset (None), which x509_v2's state passes and its request keeps, says
    nothing."""
    given = {key: value for key, value in kwargs.items() if value is not None}
    text = json.dumps([ca_server, signing_policy, given], sort_keys=True,
                      default=lambda value: value.hex() if isinstance(value, bytes) else repr(value))
    return hashlib.sha256(text.encode()).hexdigest()


def queue_signing(ca_server, certificates):
    """Queue x509_v2's request to ``ca_server`` for each of ``certificates``
    (``signing_args``, whose private keys exist), as it would send it, for the run's
    certificate states to take from ``queued_certificate``. Sends nothing.
    ``{"queued": [file, ...], "left": {file: why}}``: a certificate left asks on its own."""
    queue = __context__.setdefault(SIGNING_QUEUE, {}).setdefault(
        ca_server, {"asked": False, "requests": {}, "answers": {}})
    queued, left = [], {}
    for args in certificates:
        kwargs = {key: value for key, value in args.items() if key not in _NOT_SENT}
        try:
            kwargs["public_key"] = x509util.to_der(x509util.load_privkey(args["private_key"]).public_key())
        except (CommandExecutionError, SaltInvocationError, OSError, ValueError) as err:
            left[args["name"]] = f"its key {args['private_key']} cannot be read: {err}"
            continue
        queue["requests"][_request_key(ca_server, args["signing_policy"], kwargs)] = [
            args["signing_policy"], kwargs]
        queued.append(args["name"])
    return {"queued": queued, "left": left}


def queued_certificate(ca_server, signing_policy, kwargs):
    """The certificate (DER) the CA minion ``ca_server`` signed for x509_v2's request
    (``signing_policy``, ``kwargs``) when ``queue_signing`` queued that request in this
    run: the first of them sends every one queued in one request
    (``sign_remote_certificates``), the others take their answers. None for a request
    not queued, refused or not answered: x509_v2 then asks on its own, as without the
    queue, and reports the CA's answer."""
    queue = __context__.get(SIGNING_QUEUE, {}).get(ca_server)
    key = _request_key(ca_server, signing_policy, kwargs)
    if not queue or key not in queue["requests"]:
        return None
    if not queue["asked"]:
        queue["asked"] = True
        keys = list(queue["requests"])
        requests = [queue["requests"][k] for k in keys]
        what = f"the certificates of {', '.join(policy for policy, _ in requests)}"
        answer = _ask(ca_server, REMOTE_CERTIFICATES, [requests], what)
        if isinstance(answer, list) and len(answer) == len(keys):
            queue["answers"] = dict(zip(keys, answer, strict=True))
        else:
            log.warning("%s did not answer %s (the master's peer setting must allow it): each "
                        "certificate asks on its own", ca_server, REMOTE_CERTIFICATES)
    del queue["requests"][key]
    one = queue["answers"].pop(key, None)
    if isinstance(one, dict) and not one.get("errors") and one.get("data"):
        return one["data"]
    return None

# --- settings -----------------------------------------------------------------------


def _vent():
    return __pillar__["vent"]


def _pki():
    return _vent()["pki"]


def _model(fun, *args, **kwargs):
    return _util(f"vent_model.{fun}")(*args, **kwargs)


def ca_minion():
    return _model("ca_minion", _vent())


def is_ca():
    return __opts__.get("id") == ca_minion()


def settings():
    """The PKI settings states need, with the derived paths, the service users this
    node's roles need (``users``) and every one Vent makes (``all_users``)."""
    pki = _pki()
    paths = _model("paths", _vent())
    return {
        "dir": paths["pki"],
        "kubeconfig_dir": paths["kubeconfig"],
        "encryption_config": paths["encryption_config"],
        "key": pki["key"],
        "days_valid": int(pki["days_valid"]),
        "days_remaining": int(pki["days_remaining"]),
        "ca_minion": pki["ca_minion"],
        "front_proxy": bool(pki["front_proxy"]),
        "users": list(_model("service_users", roles_of())),
        "all_users": list(_model("service_users")),
    }


def _mine_cert(function):
    if is_ca():
        # The CA reads its own pillar: its first run must not wait for the mine.
        return {CA_MINE: ca_cert, FRONT_PROXY_CA_MINE: front_proxy_ca_cert,
                ETCD_CA_MINE: etcd_ca_cert}[function]()
    ca = ca_minion()
    if not ca:
        return ""
    return __salt__["vent_cluster.mine"](ca, function).get(ca) or ""


def ca_pem():
    """The cluster CA certificate as the CA minion published it ('' when absent)."""
    return _mine_cert(CA_MINE)


def front_proxy_ca_pem():
    return _mine_cert(FRONT_PROXY_CA_MINE)


def etcd_ca_pem():
    """The CA etcd trusts. A CA file made before the etcd CA existed has the CA minion
    publish no ``vent_etcd_ca_cert`` (its pillar names the mine functions): that CA
    signs etcd's certificates itself (``_etcd_signer``), so it is the one to trust."""
    return _mine_cert(ETCD_CA_MINE) or ca_pem()


def missing_ca_message(front_proxy=False, etcd=False):
    ca = ca_minion() or "<ca minion>"
    what, fun = (("front-proxy CA", FRONT_PROXY_CA_MINE) if front_proxy
                 else ("etcd CA", ETCD_CA_MINE) if etcd else ("CA", CA_MINE))
    return (
        f"No {what} certificate: the mine has no `{fun}` from vent:pki:ca_minion "
        f"{ca!r}. Create the CA with `salt-run vent.ca_init ca_minion={ca}`, then run "
        f"`salt {ca} saltutil.refresh_pillar`, `salt {ca} state.apply pki.ca` and "
        f"`salt {ca} mine.update`."
    )


# --- the cluster from the mine --------------------------------------------------


def nodes():
    """mine ``vent_node``: minion id -> node info."""
    return __salt__["vent_cluster.nodes"]()


def me():
    return __salt__["vent_cluster.node_info"]()


def roles_of(nodes_=None, minion=None):
    """What this node (or ``minion``) does in the PKI plan, as the cluster model says."""
    nodes_ = nodes() if nodes_ is None else nodes_
    if minion is None:
        node = me()
        minion = node.get("id")
        return _model("roles_of", minion, nodes_, _vent(), node=node)
    return _model("roles_of", minion, nodes_, _vent())


def _ip_or_dns(name):
    try:
        ipaddress.ip_address(str(name))
    except ValueError:
        return f"DNS:{name}"
    return f"IP:{name}"


def _san(names):
    seen, out = set(), []
    for n in names:
        if n and n not in seen:
            seen.add(n)
            out.append(_ip_or_dns(n))
    return ", ".join(out)


def api_sans(nodes_=None):
    """The kube-apiserver serving certificate's SANs: every controller's addresses and
    hostname, loopback, the API's ClusterIP, the kubernetes service names and
    ``vent:cluster:api:extra_names``."""
    nodes_ = nodes() if nodes_ is None else nodes_
    node = me()
    controllers = {m: nodes_[m] for m in _model("controllers", nodes_)}
    # This controller is in the list even before its first mine.update.
    controllers.setdefault(node.get("id"), node)
    cluster = _vent()["cluster"]
    names = []
    for m in sorted(controllers):
        c = controllers[m] or {}
        names += [c.get("private_ip"), c.get("public_ip")]
    names += [_model("local_api_address"), _model("api_service_ip", _vent())]
    domain = cluster["domain"]
    names += ["kubernetes", "kubernetes.default", "kubernetes.default.svc",
              f"kubernetes.default.svc.{domain}"]
    names += [(controllers[m] or {}).get("hostname") or m for m in sorted(controllers)]
    names += list(cluster["api"]["extra_names"] or [])
    return _san(names)


def node_sans(node=None):
    node = node or me()
    return _san([node.get("hostname"), node.get("private_ip"), node.get("public_ip")])


def etcd_sans(node=None):
    node = node or me()
    return _san([node.get("hostname"), node.get("private_ip"), _model("local_api_address")])


def _spec(kind, owner, cn=None, sans=None, group=None, file=None):
    pol_cn, org, ekus, which, _holders = POLICIES[kind]
    return {
        "name": file or kind,
        "policy": policy_name(kind),
        "CN": pol_cn or cn,
        "O": org,
        "sans": sans,
        "owner": owner,
        "group": group or owner,
        "ca": which,
    }


def certs(concern, nodes_=None):
    """The certificates this node needs for one concern (``etcd``, ``controller``,
    ``node``): file name, policy, subject, SANs and owner."""
    nodes_ = nodes() if nodes_ is None else nodes_
    r = roles_of(nodes_)
    node = me()
    host = node.get("hostname") or node.get("id")
    out = []
    if concern == "etcd" and r["etcd"]:
        out += [_spec("etcd-server", "etcd", cn=host, sans=etcd_sans(node)),
                _spec("etcd-peer", "etcd", cn=host, sans=etcd_sans(node))]
    if concern == "controller" and r["controller"]:
        out += [
            _spec("apiserver", "kube-apiserver", sans=api_sans(nodes_)),
            _spec("apiserver-etcd-client", "kube-apiserver"),
            _spec("apiserver-kubelet-client", "kube-apiserver"),
            _spec("kube-controller-manager", "kube-controller-manager"),
            _spec("kube-scheduler", "kube-scheduler"),
            _spec("admin", "root"),
        ]
        if _pki()["front_proxy"]:
            out.append(_spec("front-proxy-client", "kube-apiserver"))
    if concern == "node" and r["compute"]:
        name = f"system:node:{host}"
        out += [
            _spec("kubelet", "root", cn=name, sans=node_sans(node)),
            _spec("kubelet-serving", "root", cn=name, sans=node_sans(node)),
            _spec("kube-proxy", "root"),
        ]
    return out


def parts(nodes_=None):
    """The parts of the pki formula this node has, in apply order: what pki and
    pki.certs include, and what each of those parts asks before it renders states
    (applied alone on a node it does not concern, it renders none). A part left out
    is one sls file and its imports fewer to fetch and render in every run."""
    r = roles_of(nodes_)
    wanted = {
        "pki.ca": r["ca"],
        "pki.users": True,
        "pki.certs": True,
        "pki.certs.ca": True,
        "pki.certs.policies": True,
        "pki.certs.etcd_ca": r["etcd"] or r["controller"],
        "pki.certs.etcd": r["etcd"],
        "pki.certs.controller": r["controller"],
        "pki.certs.service_account": r["controller"],
        "pki.certs.node": r["compute"],
        "pki.kubeconfig": True,
        "pki.encryption": r["controller"],
    }
    return [part for part, has in wanted.items() if has]


def kubeconfigs(nodes_=None):
    """The kubeconfigs this node needs: ``{name, user, cert, endpoint, owner}``. Every
    one names the local API (``vent_model.local_api``): a controller's own API server,
    elsewhere the node's proxy over all controllers."""
    nodes_ = nodes() if nodes_ is None else nodes_
    r = roles_of(nodes_)
    node = me()
    host = node.get("hostname") or node.get("id")
    out = []
    local = _model("local_api", _vent())
    if r["controller"]:
        for comp, user in (("kube-controller-manager", "system:kube-controller-manager"),
                           ("kube-scheduler", "system:kube-scheduler"),
                           ("admin", "admin")):
            out.append({"name": comp, "user": user, "cert": comp, "endpoint": local,
                        "owner": "root" if comp == "admin" else comp})
    if r["compute"]:
        # Off the controllers 127.0.0.1 is the node's API proxy over every controller.
        out.append({"name": "kubelet", "user": f"system:node:{host}", "cert": "kubelet",
                    "endpoint": local, "owner": "root"})
        out.append({"name": "kube-proxy", "user": "system:kube-proxy", "cert": "kube-proxy",
                    "endpoint": local, "owner": "root"})
    return out


def plan():
    """Everything this node gets, for the operator: ``salt <node> vent_pki.plan``."""
    n = nodes()
    return {
        "roles": roles_of(n),
        "certs": [c for k in ("etcd", "controller", "node") for c in certs(k, n)],
        "kubeconfigs": kubeconfigs(n),
    }
