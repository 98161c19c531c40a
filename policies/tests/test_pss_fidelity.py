"""The pack judges pods as Pod Security admission does (k8s.io/pod-security-admission/policy):
Baseline and Restricted as separate rules, pod-level fields, Windows pods, versioned sysctls;
plus image references read as the kubelet reads them (RBAC wildcards: test_more_rules.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from preflight.check import with_kubernetes_version
from policies.rules.helpers import is_cluster_scoped
from policies.rules.image_reference import image_pin_problem
from policies.rules.pod_security import DEFAULT_KUBERNETES_VERSION
from rule_cases import WORKLOADS, pod, violations

ROOT = Path(__file__).resolve().parents[2]
POD = "kubernetes:core/v1:Pod"
RESTRICTED_RULES = ("pss-allow-privilege-escalation", "pss-run-as-non-root", "pss-capabilities", "pss-seccomp",
                    "pss-volume-types", "pss-restricted-proc-mount")


def pod_in(namespace, spec):
    props = WORKLOADS[POD](spec)
    props["metadata"]["namespace"] = namespace
    return props


def baseline_namespace_config(namespace="monitoring"):
    """A pack config for a namespace that enforces baseline: every Restricted rule exempts it."""
    entry = {"exemptions": [{"namespace": namespace, "reason": "enforces baseline"}]}
    return {"all": "mandatory", **{rule: entry for rule in RESTRICTED_RULES}}


def test_default_capabilities_are_allowed_at_baseline():
    # A baseline pod: no drop ALL, adds only capabilities from the runtime's default set.
    spec = pod(container_mutate=lambda c: c["securityContext"].update(
        capabilities={"add": ["CHOWN", "SETUID", "SETGID", "NET_BIND_SERVICE", "SYS_CHROOT"]}))
    found = violations(POD, pod_in("monitoring", spec), baseline_namespace_config())
    assert "pss-baseline-capabilities" not in found and "pss-capabilities" not in found
    # ...and the same pod in a restricted namespace is still refused by the Restricted rule.
    assert "pss-capabilities" in violations(POD, pod_in("shop", spec), baseline_namespace_config())


@pytest.mark.parametrize("capability", ["SYS_ADMIN", "NET_RAW", "NET_ADMIN", "SYS_PTRACE"])
def test_capabilities_beyond_the_default_set_are_refused_at_baseline(capability):
    spec = pod(container_mutate=lambda c: c["securityContext"].update(capabilities={"add": [capability]}))
    found = violations(POD, pod_in("monitoring", spec), baseline_namespace_config())
    assert "pss-baseline-capabilities" in found


@pytest.mark.parametrize("where", ["pod", "container", "initContainer"])
def test_unconfined_seccomp_is_refused_at_baseline(where):
    unconfined = {"type": "Unconfined"}
    if where == "pod":
        spec = pod(lambda s: s["securityContext"].update(seccompProfile=unconfined))
    else:
        spec = pod(container_mutate=lambda c: c["securityContext"].update(seccompProfile=unconfined),
                   init=where == "initContainer")
    found = violations(POD, pod_in("monitoring", spec), baseline_namespace_config())
    assert "pss-baseline-seccomp" in found


def test_unset_seccomp_is_fine_at_baseline_but_not_at_restricted():
    spec = pod(lambda s: s["securityContext"].pop("seccompProfile"))
    assert "pss-baseline-seccomp" not in violations(POD, pod_in("monitoring", spec), baseline_namespace_config())
    assert "pss-seccomp" in violations(POD, pod_in("shop", spec), baseline_namespace_config())


def test_pod_level_unconfined_seccomp_is_refused_even_when_containers_set_their_own():
    spec = pod(lambda s: s["securityContext"].update(seccompProfile={"type": "Unconfined"}),
               container_mutate=lambda c: c["securityContext"].update(seccompProfile={"type": "RuntimeDefault"}))
    found = violations(POD, pod_in("shop", spec))
    assert {"pss-seccomp", "pss-baseline-seccomp"} <= found


def test_pod_level_run_as_non_root_false_is_a_violation_whatever_containers_say():
    spec = pod(lambda s: s["securityContext"].update(runAsNonRoot=False),
               container_mutate=lambda c: c["securityContext"].update(runAsNonRoot=True))
    assert "pss-run-as-non-root" in violations(POD, pod_in("shop", spec))


def test_containers_may_rely_on_the_pod_level_run_as_non_root():
    assert "pss-run-as-non-root" not in violations(POD, pod_in("shop", pod()))


def windows(spec):
    spec["os"] = {"name": "windows"}
    return spec


def test_linux_only_controls_are_skipped_for_windows_pods():
    # What the API refuses on a Windows pod cannot be required of it: capabilities, seccomp,
    # allowPrivilegeEscalation and readOnlyRootFilesystem.
    def strip(container):
        for field in ("capabilities", "allowPrivilegeEscalation", "readOnlyRootFilesystem"):
            container["securityContext"].pop(field)
    spec = pod(lambda s: s["securityContext"].pop("seccompProfile"), container_mutate=strip)
    linux_only = {"pss-capabilities", "pss-seccomp", "pss-allow-privilege-escalation", "read-only-root-filesystem"}
    assert linux_only <= violations(POD, pod_in("shop", spec))
    assert not linux_only & violations(POD, pod_in("shop", windows(spec)))


def test_windows_pods_are_still_judged_on_the_other_controls():
    spec = windows(pod(lambda s: s["securityContext"].update(runAsNonRoot=False, hostNetwork=True),
                       container_mutate=lambda c: c["securityContext"].update(windowsOptions={"hostProcess": True})))
    spec["hostNetwork"] = True
    found = violations(POD, pod_in("shop", spec))
    assert {"pss-run-as-non-root", "pss-host-process", "pss-host-namespaces"} <= found


def sysctl_pod(name):
    return pod_in("shop", pod(lambda s: s["securityContext"].update(sysctls=[{"name": name, "value": "4096"}])))


def at_version(version):
    return with_kubernetes_version({"all": "mandatory"}, version)


@pytest.mark.parametrize("name, first_safe", [
    ("kernel.shm_rmid_forced", "1.0"),
    ("net.ipv4.ip_local_reserved_ports", "1.27"),
    ("net.ipv4.tcp_keepalive_time", "1.29"),
    ("net.ipv4.tcp_fin_timeout", "1.29"),
    ("net.ipv4.tcp_rmem", "1.32"),
    ("net.ipv4.tcp_wmem", "1.32"),
    ("net.ipv4.tcp_notsent_lowat", "1.37"),
])
def test_safe_sysctls_follow_the_target_kubernetes_version(name, first_safe):
    major, minor = (int(part) for part in first_safe.split("."))
    assert "pss-sysctls" not in violations(POD, sysctl_pod(name), at_version(first_safe))
    if minor > 0:
        assert "pss-sysctls" in violations(POD, sysctl_pod(name), at_version(f"{major}.{minor - 1}"))


def test_tcp_buffers_are_safe_at_the_default_version():
    assert "pss-sysctls" not in violations(POD, sysctl_pod("net.ipv4.tcp_rmem"))
    assert "pss-sysctls" in violations(POD, sysctl_pod("kernel.msgmax"))


def test_the_pack_config_version_wins_over_the_stack_version():
    config = with_kubernetes_version({"all": "mandatory", "pss-sysctls": {"kubernetesVersion": "1.31"}}, "1.33")
    assert config["pss-sysctls"]["kubernetesVersion"] == "1.31"
    assert "pss-sysctls" in violations(POD, sysctl_pod("net.ipv4.tcp_rmem"), config)


def user_namespace_pod(mutate):
    spec = pod(lambda s: s.update(hostUsers=False), container_mutate=mutate)
    return spec


def test_a_pod_in_its_own_user_namespace_may_run_as_root_from_1_35():
    spec = user_namespace_pod(lambda c: c["securityContext"].update(runAsUser=0, runAsNonRoot=False))
    assert "pss-run-as-non-root" not in violations(POD, pod_in("shop", spec), at_version("1.35"))
    assert "pss-run-as-non-root" in violations(POD, pod_in("shop", spec), at_version("1.34"))
    spec["hostUsers"] = True
    assert "pss-run-as-non-root" in violations(POD, pod_in("shop", spec), at_version("1.35"))


def test_unmasked_proc_in_a_user_namespace_is_baseline_from_1_35_but_never_restricted():
    spec = user_namespace_pod(lambda c: c["securityContext"].update(procMount="Unmasked"))
    restricted = violations(POD, pod_in("shop", spec), at_version("1.35"))
    assert "pss-proc-mount" not in restricted and "pss-restricted-proc-mount" in restricted
    baseline = with_kubernetes_version(baseline_namespace_config(), "1.35")
    assert not {"pss-proc-mount", "pss-restricted-proc-mount"} & violations(POD, pod_in("monitoring", spec), baseline)
    earlier = with_kubernetes_version(baseline_namespace_config(), "1.34")
    assert "pss-proc-mount" in violations(POD, pod_in("monitoring", spec), earlier)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_default_version_is_the_shipped_stacks_version(stack):
    # `pulumi preview --policy-pack` gets no stack version: the rule's default must match the stacks.
    document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    assert document["config"]["eks-platform:cluster"]["kubernetesVersion"] == DEFAULT_KUBERNETES_VERSION


@pytest.mark.parametrize("image, problem", [
    ("redis:7", None),
    ("redis:7.2-alpine", None),
    ("localhost:5000/shop/web:1.0", None),
    ("registry.example.com:5000/web", "has no tag"),
    ("docker.io/library/redis", "has no tag"),
    ("redis", "has no tag"),
    ("redis:latest", "uses ':latest'"),
    ("my__team/web--app:2", None),
    ("Redis:7", "is not a valid image reference (expected"),
    ("redis:7\n", "is not a valid image reference"),
    ("redis:caf\u00e9", "is not a valid image reference"),
])
def test_image_references_are_read_as_the_kubelet_reads_them(image, problem):
    found = image_pin_problem(image)
    assert (found is None) if problem is None else (found or "").startswith(problem), found


# -- Pod templates and scopes ------------------------------------------------------------------

def test_replication_controllers_and_pod_templates_are_checked_like_pods():
    privileged = pod(container_mutate=lambda c: c["securityContext"].update(privileged=True))
    rc = {"metadata": {"name": "rc", "namespace": "shop"}, "spec": {"template": {"spec": privileged}}}
    template = {"metadata": {"name": "pt", "namespace": "shop"}, "template": {"spec": privileged}}
    assert "pss-privileged" in violations("kubernetes:core/v1:ReplicationController", rc)
    assert "pss-privileged" in violations("kubernetes:core/v1:PodTemplate", template)
    rc["spec"]["template"]["spec"] = pod()
    template["template"]["spec"] = pod()
    assert violations("kubernetes:core/v1:ReplicationController", rc) == set()
    assert violations("kubernetes:core/v1:PodTemplate", template) == set()


@pytest.mark.parametrize("resource_type", [
    "kubernetes:admissionregistration.k8s.io/v1:ValidatingWebhookConfiguration",
    "kubernetes:admissionregistration.k8s.io/v1:MutatingWebhookConfiguration",
    "kubernetes:apiregistration.k8s.io/v1:APIService",
    "kubernetes:node.k8s.io/v1:RuntimeClass",
    "kubernetes:storage.k8s.io/v1:CSIDriver",
    "kubernetes:flowcontrol.apiserver.k8s.io/v1:FlowSchema",
    "kubernetes:cert-manager.io/v1:ClusterIssuer",
    "kubernetes:gateway.networking.k8s.io/v1:GatewayClass",
])
def test_cluster_scoped_kinds_are_never_in_the_default_namespace(resource_type):
    assert is_cluster_scoped(resource_type)
    assert "no-default-namespace" not in violations(resource_type, {"metadata": {"name": "x"}})


def test_namespaced_custom_resources_without_a_namespace_are_in_default():
    assert not is_cluster_scoped("kubernetes:cert-manager.io/v1:Issuer")
    assert "no-default-namespace" in violations("kubernetes:cert-manager.io/v1:Issuer", {"metadata": {"name": "x"}})

