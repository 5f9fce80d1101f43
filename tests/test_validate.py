"""Every pillar validation rule, one bad pillar each, asserting the key it names."""

from __future__ import annotations

import copy

import pytest
import yaml
from conftest import REPO, settings

from ventlab.model import formula_rules, model, util

validation = util("vent_validation")

GOOD_KEY = "Z2Q0c0p5ZUtMZ1hVcXJ5TnFNVm5aUWJiV3B2b2RFQ2o="  # base64 of 32 ASCII bytes


SCHEMA = settings()
NODES = {
    "controller-0": {"hostname": "controller-0", "roles": ["controller"],
                     "private_ip": "100.72.0.2", "public_ip": "198.18.0.2"},
    "worker-0": {"hostname": "worker-0", "roles": ["worker"],
                 "private_ip": "100.72.0.3", "public_ip": "198.18.0.3"},
}


@pytest.fixture
def pillar():
    p = copy.deepcopy(SCHEMA)
    p["encryption"]["key"] = GOOD_KEY
    return p


RULES = formula_rules()


def errors(pillar, nodes=NODES):
    return validation.problems(pillar, copy.deepcopy(nodes), SCHEMA, RULES)["errors"]


def assert_one_error_naming(pillar, key, fragment="", nodes=NODES):
    errs = errors(pillar, nodes)
    assert len(errs) == 1, errs
    assert errs[0].startswith(key + ":"), errs
    assert fragment in errs[0], errs


def test_defaults_plus_key_are_valid(pillar):
    result = validation.problems(pillar, NODES, SCHEMA)
    assert result["errors"] == []
    assert result["summary"]["dns_ip"] == "100.64.0.10"
    assert result["summary"]["controllers"] == ["controller-0"]


def test_dns_ip_is_derived_from_service_cidr(pillar):
    pillar["cluster"]["service_cidr"] = "100.80.0.0/16"
    assert model.dns_ip(pillar) == "100.80.0.10"
    assert model.api_service_ip(pillar) == "100.80.0.1"
    pillar["cluster"]["dns_ip"] = "100.80.0.53"
    assert model.dns_ip(pillar) == "100.80.0.53"


def test_overlapping_cluster_and_service_cidr(pillar):
    # The original's defect: services inside the pod network.
    pillar["cluster"]["cluster_cidr"] = "100.96.0.0/11"
    pillar["cluster"]["service_cidr"] = "100.100.31.0/24"
    assert_one_error_naming(pillar, "vent:cluster:service_cidr", "overlaps vent:cluster:cluster_cidr")


@pytest.mark.parametrize("key", ["cluster_cidr", "service_cidr"])
def test_cidr_in_packet_private_range(pillar, key):
    pillar["cluster"][key] = "10.200.0.0/16"  # rejected: Packet private range
    assert_one_error_naming(pillar, f"vent:cluster:{key}", "10.0.0.0/8")


def test_packet_range_allowed_explicitly(pillar):
    pillar["cluster"]["cluster_cidr"] = "10.200.0.0/16"  # validation input only (private range), no traffic
    pillar["cluster"]["allow_10_8"] = True
    assert errors(pillar) == []


@pytest.mark.parametrize("key", ["cluster_cidr", "service_cidr"])
def test_malformed_cidr(pillar, key):
    pillar["cluster"][key] = "100.64.0.0/33"
    errs = errors(pillar)
    assert any(e.startswith(f"vent:cluster:{key}:") and "not a valid CIDR" in e for e in errs), errs


def test_cidr_with_host_bits(pillar):
    pillar["cluster"]["service_cidr"] = "100.64.0.1/13"
    assert any(e.startswith("vent:cluster:service_cidr:") for e in errors(pillar))


def test_cidr_contains_a_node_address(pillar):
    nodes = copy.deepcopy(NODES)
    nodes["worker-0"]["private_ip"] = "100.97.0.3"
    assert_one_error_naming(pillar, "vent:cluster:cluster_cidr", "worker-0's private_ip", nodes)


def test_dns_ip_outside_service_cidr(pillar):
    pillar["cluster"]["dns_ip"] = "100.96.0.10"
    assert_one_error_naming(pillar, "vent:cluster:dns_ip", "outside")


@pytest.mark.parametrize("addr", ["100.64.0.0", "100.64.0.1"])
def test_dns_ip_is_first_address(pillar, addr):
    pillar["cluster"]["dns_ip"] = addr
    assert_one_error_naming(pillar, "vent:cluster:dns_ip", "first address")


def test_dns_ip_malformed(pillar):
    pillar["cluster"]["dns_ip"] = "100.64.0.300"
    assert_one_error_naming(pillar, "vent:cluster:dns_ip", "not a valid IP")


def test_node_cidr_mask_shorter_than_cluster(pillar):
    pillar["cluster"]["node_cidr_mask"] = 8
    assert_one_error_naming(pillar, "vent:cluster:node_cidr_mask")


def test_encryption_key_missing(pillar):
    pillar["encryption"]["key"] = None
    assert_one_error_naming(pillar, "vent:encryption:key", "missing")


def test_encryption_key_not_base64(pillar):
    pillar["encryption"]["key"] = "not base64!!"
    assert_one_error_naming(pillar, "vent:encryption:key", "base64")


def test_encryption_key_wrong_length(pillar):
    pillar["encryption"]["key"] = "c2hvcnQ="
    assert_one_error_naming(pillar, "vent:encryption:key", "5 bytes")


def test_encryption_provider_unknown(pillar):
    pillar["encryption"]["provider"] = "aesgcm-typo"
    assert_one_error_naming(pillar, "vent:encryption:provider")


def test_version_without_checksum(pillar):
    files = pillar["artifacts"]["releases"]["kubernetes"]["files"]
    files["kubelet"]["checksums"] = {}
    assert_one_error_naming(
        pillar, "vent:artifacts:releases:kubernetes:files:kubelet:checksums", "no checksum for version"
    )


def test_a_new_version_does_not_reuse_the_old_checksums(pillar):
    release = pillar["artifacts"]["releases"]["etcd"]
    old = release["version"]
    release["version"] = "3.7.9"
    errs = errors(pillar)
    assert errs == [f"vent:artifacts:releases:etcd:files:etcd:checksums: no checksum for version 3.7.9 "
                    f"(checksums are pinned for: {old})"]
    with pytest.raises(ValueError, match="no checksums for version 3.7.9"):
        model.artifact(pillar, "etcd", "etcd", "amd64")


def test_an_image_version_without_its_digest(pillar):
    pillar["artifacts"]["releases"]["coredns"]["version"] = "1.99.0"
    assert_one_error_naming(pillar, "vent:artifacts:releases:coredns:digests", "1.99.0")


def test_hostname_not_a_dns_label(pillar):
    nodes = copy.deepcopy(NODES)
    nodes["worker-0"]["hostname"] = "Worker_0"
    assert_one_error_naming(pillar, "mine:vent_node:worker-0:hostname", nodes=nodes)


def test_no_controller(pillar):
    nodes = {k: v for k, v in copy.deepcopy(NODES).items() if k != "controller-0"}
    errs = errors(pillar, nodes)
    assert any(e.startswith("grains:roles:") and "controller" in e for e in errs), errs


def test_even_etcd_member_count_is_a_warning(pillar):
    nodes = copy.deepcopy(NODES)
    nodes["controller-1"] = dict(nodes["controller-0"], hostname="controller-1",
                                 private_ip="100.72.0.4", public_ip="198.18.0.4")
    result = validation.problems(pillar, nodes, SCHEMA)
    assert result["errors"] == []
    assert len(result["warnings"]) == 1 and result["warnings"][0].startswith("vent:etcd:")


def test_misspelt_key_suggests_the_known_one(pillar):
    pillar["cluster"]["servce_cidr"] = "100.64.0.0/13"
    assert_one_error_naming(pillar, "vent:cluster:servce_cidr", "did you mean vent:cluster:service_cidr")


def test_key_algorithm_unsupported(pillar):
    pillar["pki"]["key"] = {"algorithm": "rsa", "size": 1024}
    assert_one_error_naming(pillar, "vent:pki:key")


def test_artifact_source_prefers_mirror(pillar):
    component, name = "kubernetes", "kubelet"
    art = model.artifact(pillar, component, name, "amd64")
    assert art["sources"][0].startswith("file:///srv/vent/artifacts/")
    assert art["sources"][1].startswith("https://")
    assert "{" not in art["url"]
    pillar["artifacts"]["allow_download"] = False
    assert len(model.artifact(pillar, component, name, "amd64")["sources"]) == 1


# --- values the formulas would refuse, from their own schema.yaml / defaults.yaml -------


@pytest.mark.parametrize(("key", "value", "allowed"), [
    ("vent:kubernetes:kube_proxy_mode", "userspace", "iptables, nftables, ipvs"),
    ("vent:flannel:backend", "host-gw", "vxlan"),
    ("vent:containerd:cgroup_driver", "systemdd", "systemd, cgroupfs"),
    ("vent:node:time_sync", "ntpd", "timesyncd, chrony"),
    ("vent:etcd:install", "source", "release, package"),
    ("vent:encryption:provider", "kms", "aescbc, secretbox"),
    ("vent:network_policy:provider", "calico", "none"),
])
def test_a_value_outside_what_the_formula_accepts(pillar, key, value, allowed):
    section, *rest = key.split(":")[1:]
    target = pillar[section]
    for part in rest[:-1]:
        target = target[part]
    target[rest[-1]] = value
    assert_one_error_naming(pillar, key, f"{value!r} is not one of {allowed}")


def test_allowed_values_come_from_the_formula_defaults():
    import yaml

    def defaults(formula):
        return yaml.safe_load((REPO / "formulas" / formula / "defaults.yaml").read_text())

    modes = defaults("kube-proxy-formula/kube_proxy")["modes"]
    assert RULES["vent:kubernetes:kube_proxy_mode"]["one_of"] == modes
    assert RULES["vent:node:time_sync"]["one_of"] == list(defaults("node-formula/node")["time_packages"])


@pytest.mark.parametrize(("path", "value", "must"), [
    (("coredns", "replicas"), 0, "an integer >= 1"),
    (("apiproxy", "fall"), -1, "an integer >= 1"),
    (("flannel", "vxlan_port"), 70000, "an integer 1-65535"),
    (("etcd", "health_timeout"), 0, "a number of seconds > 0"),
    (("apiproxy", "check_interval"), "two seconds", "a duration like 2s or 500ms"),
    (("apiproxy", "recheck_interval"), "soon", "a duration like 2s or 500ms"),
    (("kubernetes", "controller_manager_api", "burst"), 0, "an integer >= 1"),
    (("orchestrate", "worker_batch"), 0, "null or an integer >= 1"),
    (("gvisor", "enabled"), "yes", "true or false"),
])
def test_counts_ports_and_durations_are_checked(pillar, path, value, must):
    node = pillar
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert_one_error_naming(pillar, "vent:" + ":".join(path), must)


def test_a_service_range_the_apiserver_refuses(pillar):
    pillar["cluster"]["service_cidr"] = "100.128.0.0/11"
    assert_one_error_naming(pillar, "vent:cluster:service_cidr", "larger than kube-apiserver accepts")


def test_a_node_mask_the_controller_manager_refuses(pillar):
    pillar["cluster"]["cluster_cidr"] = "100.96.0.0/11"
    pillar["cluster"]["node_cidr_mask"] = 28
    assert_one_error_naming(pillar, "vent:cluster:node_cidr_mask", "at most 16")


@pytest.mark.parametrize("field", ["hostname", "private_ip", "public_ip"])
def test_two_minions_with_one_identity(pillar, field):
    nodes = copy.deepcopy(NODES)
    nodes["worker-1"] = {**nodes["worker-0"], "hostname": "worker-1", "private_ip": "100.72.0.4",
                         "public_ip": "198.18.0.4"}
    nodes["worker-1"][field] = nodes["worker-0"][field]
    value = nodes["worker-0"][field]
    assert_one_error_naming(pillar, f"mine:vent_node:{field}", f"{value} is claimed by worker-0, worker-1",
                            nodes=nodes)


def test_no_node_to_run_the_add_ons(pillar):
    nodes = {"controller-0": NODES["controller-0"]}
    assert_one_error_naming(pillar, "grains:roles", "no node runs pods", nodes=nodes)
    pillar["roles"]["controllers_schedulable"] = True
    assert errors(pillar, nodes) == []


def test_a_misspelt_top_level_key_is_named():
    assert validation.top_level_problems(["vent", "vnet", "Vnet", "mine_functions", "other"]) == [
        "Vnet: unknown top-level pillar key; did you mean vent? (its settings are ignored)",
        "vnet: unknown top-level pillar key; did you mean vent? (its settings are ignored)",
    ]


def test_a_yaml_error_names_file_line_and_column(tmp_path):
    site = tmp_path / "site.sls"
    text = "vent:\n  cluster:\n    name: vent\n   service_cidr: [100.64.0.0/13\n"
    where = validation.yaml_error_at(site, text)
    assert where.startswith(f"{site}:4:"), where
    assert validation.yaml_error_at(site, "vent: {}\n") is None


def test_the_master_must_let_the_ca_minion_alone_check_policy_roles():
    from ventlab import saltconfig

    rendered = saltconfig.ca_peer_run("controller-0")["peer_run"]
    assert validation.ca_peer_run_problems("controller-0", rendered) == []
    # Another minion with a name that starts alike is not let in by the rendered rule.
    assert validation.ca_peer_run_problems("controller-00", rendered)
    for peer_run in (None, {}, {"^controller-1$": ["match.compound_matches"]},
                     {"^controller-0$": ["x509.sign_remote_certificate"]}):
        (problem,) = validation.ca_peer_run_problems("controller-0", peer_run)
        assert problem.startswith("vent:pki:ca_minion: the master's peer_run does not let controller-0")


def test_a_peer_setting_without_the_one_request_functions_is_a_warning():
    tracked = yaml.safe_load((REPO / "etc/salt/master").read_text())["peer"]
    assert validation.peer_warnings(tracked) == []
    assert validation.peer_warnings({".*": [r"vent_pki\..*"]}) == []
    for peer in (None, {}, {".*": ["x509.sign_remote_certificate"]}):
        policies, certificates = validation.peer_warnings(peer)
        assert "does not allow vent_pki.remote_signing_policies" in policies
        assert "does not allow vent_pki.sign_remote_certificates" in certificates
    (warning,) = validation.peer_warnings({".*": ["vent_pki.remote_signing_policies"]})
    assert ("does not allow vent_pki.sign_remote_certificates: each certificate asks the CA minion "
            "to sign it") in warning


def test_a_master_that_serves_publish_with_the_minions_requests_is_a_warning():
    tracked = yaml.safe_load((REPO / "etc/salt/master").read_text())["worker_pools"]
    assert validation.worker_pool_warnings(tracked, None) == []
    salt_default = {"auth": {"worker_count": 1, "commands": ["_auth"]},
                    "default": {"worker_count": 4, "commands": ["*"]}}
    for pools, threads, workers in ((salt_default, 5, 4), (None, 8, 8)):
        (warning,) = validation.worker_pool_warnings(pools, threads)
        assert warning.startswith(f"the master serves publish with the minions' requests ({workers} workers)")
        assert "salt-master-peer-publish-stall.md" in warning
