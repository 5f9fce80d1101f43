"""Which release files the deploy's one up-front check asks each minion about
(vent_model.orchestration's ``release_files``): those of the steps that run there, up
to vent:orchestrate:stop_after, and none that a node takes from Debian."""

from __future__ import annotations

from conftest import settings

from ventlab.model import model

NODES = {
    "controller-0": {"id": "controller-0", "roles": ["controller"]},
    "worker-0": {"id": "worker-0", "roles": ["worker"]},
    "bastion": {"id": "bastion", "roles": []},  # a minion of the site, not a node
}


def files(**site) -> dict[str, set[str]]:
    plan = model.orchestration(settings(site), NODES)
    return {m: {f"{c}/{f}" for c, f in fs} for m, fs in plan["release_files"].items()}


def test_each_minion_is_asked_about_the_files_its_steps_install():
    found = files()
    assert set(found) == {"controller-0", "worker-0"}
    assert found["controller-0"] == {"etcd/etcd", "kubernetes/kube-apiserver", "kubernetes/kubectl",
                                     "kubernetes/kube-controller-manager", "kubernetes/kube-scheduler"}
    assert found["worker-0"] == {
        "containerd/containerd", "runc/runc", "cni_plugins/cni-plugins", "crictl/crictl",
        "flannel_cni_plugin/cni-plugins", "gvisor/runsc", "gvisor/containerd-shim-runsc-v1",
        "kubernetes/kubelet", "kubernetes/kube-proxy"}


def test_a_schedulable_controller_is_asked_about_both_stacks_once():
    plan = model.orchestration(settings({"roles": {"controllers_schedulable": True}}), NODES)
    controller = plan["release_files"]["controller-0"]
    assert len(controller) == len({tuple(f) for f in controller})
    assert ["kubernetes", "kubelet"] in controller and ["etcd", "etcd"] in controller


def test_only_the_phases_that_run_and_only_release_installs():
    found = files(orchestrate={"stop_after": "etcd"}, containerd={"install": "package"},
                  gvisor={"enabled": False})
    assert found == {"controller-0": {"etcd/etcd"},
                     "worker-0": {"runc/runc", "cni_plugins/cni-plugins", "crictl/crictl",
                                  "flannel_cni_plugin/cni-plugins"}}
    assert files(orchestrate={"stop_after": "pki"}) == {}
