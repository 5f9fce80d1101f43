"""The PKI's states beside x509_v2's."""

__virtualname__ = "vent_pki"


def __virtual__():
    if "vent_pki.queue_signing" in __salt__:
        return __virtualname__
    return False, "the vent_pki execution module is not loaded"


def signing_prepared(name, certificates):
    """This node's certificates that the CA minion ``name`` signs (``certificates``:
    ``vent_pki.remotely_signed``), prepared for their states: the signing policies of
    those that exist, which each state checks its certificate against, asked for in one
    request (``vent_pki.fetch_signing_policies``); and the request for each one missing
    queued (``vent_pki.queue_signing``), all of them sent in one request when the first
    missing certificate's state asks. Runs after the node's keys. Changes nothing and
    does not fail: a policy or certificate not had this way is asked for by its state,
    which reports the CA's answer."""
    if not isinstance(certificates, list) or not all(
            isinstance(c, dict) and c.get("name") and c.get("signing_policy") and c.get("private_key")
            for c in certificates):
        return {"name": name, "result": False, "changes": {},
                "comment": "certificates: a list of x509.certificate_managed arguments with name, "
                           f"signing_policy and private_key, not {certificates!r}"}
    if not certificates:
        return {"name": name, "result": True, "changes": {},
                "comment": "no certificate of this node is signed by another minion"}
    exist = [c for c in certificates if __salt__["file.file_exists"](c["name"])]
    missing = [c for c in certificates if c not in exist]
    policies = sorted({c["signing_policy"] for c in exist})
    notes, left = [], {}
    if policies:
        got = __salt__["vent_pki.fetch_signing_policies"](name, policies)
        notes.append(f"{len(got['fetched'])} of {len(policies)} signing policies from {name} in one request")
        left.update(got["left"])
    if missing and __opts__["test"]:
        notes.append(f"{len(missing)} missing certificates would be signed by {name} in one request")
    elif missing:
        got = __salt__["vent_pki.queue_signing"](name, missing)
        notes.append(f"{len(got['queued'])} of {len(missing)} missing certificates queued to be signed "
                     f"by {name} in one request")
        left.update(got["left"])
    comment = "; ".join(notes)
    if left:
        comment += "; each certificate state asks for the others: " + "; ".join(
            f"{what}: {why}" for what, why in sorted(left.items()))
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
