"""The PKI's states beside x509_v2's."""

__virtualname__ = "vent_pki"


def __virtual__():
    if "vent_pki.fetch_signing_policies" in __salt__:
        return __virtualname__
    return False, "the vent_pki execution module is not loaded"


def signing_policies_fetched(name, policies):
    """The signing policies ``policies`` of this node's certificates, asked of the CA
    minion ``name`` in one request before the certificate states, which then find them
    where x509_v2 looks first (``vent_pki.fetch_signing_policies``). Changes nothing
    and does not fail: a policy not had here is asked for by its certificate state,
    which reports the CA's answer."""
    if not isinstance(policies, list) or not all(isinstance(p, str) and p for p in policies):
        return {"name": name, "result": False, "changes": {},
                "comment": f"policies: a list of signing policy names, not {policies!r}"}
    if not policies:
        return {"name": name, "result": True, "changes": {},
                "comment": "no certificate of this node is signed by another minion"}
    got = __salt__["vent_pki.fetch_signing_policies"](name, policies)
    comment = f"{len(got['fetched'])} of {len(set(policies))} signing policies from {name} in one request"
    if got["left"]:
        comment += "; each certificate state asks for the others: " + "; ".join(
            f"{policy}: {why}" for policy, why in sorted(got["left"].items()))
    return {"name": name, "result": True, "changes": {}, "comment": comment}


def files_written(name, paths):
    """The files ``paths`` that the PKI step writes exist, checked when the state runs:
    the pki formula may come first in the same run. Fails naming those missing and what
    needs them (``name``); in a test run, says what a real run will need."""
    missing = [path for path in paths if not __salt__["file.file_exists"](path)]
    if not missing:
        return {"name": name, "result": True, "changes": {},
                "comment": f"{name} has {', '.join(paths)}"}
    comment = (f"{name} needs {', '.join(missing)}, written by the PKI step; apply the pki "
               f"formula to {__grains__['id']} first")
    return {"name": name, "result": None if __opts__["test"] else False, "changes": {},
            "comment": comment}
