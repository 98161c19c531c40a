"""The rest of the catalogue: pod-level PSS controls, probes, tokens, namespaces, RBAC, and
the stack rules (which see every resource at once)."""

from __future__ import annotations

import copy

import pytest

from preflight.check import Subject, evaluate
from rule_cases import GOOD_CONTAINER, WORKLOADS, pod, violations


def pod_props(spec, metadata_extra=None):
    props = WORKLOADS["kubernetes:core/v1:Pod"](spec)
    props["metadata"].update(metadata_extra or {})
    return props


@pytest.mark.parametrize("rule, mutate", [
    ("pss-sysctls", lambda s: s["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}])),
    ("pss-volume-types", lambda s: s.update(volumes=[{"name": "n", "nfs": {"server": "x", "path": "/"}}])),
    ("pss-volume-types", lambda s: s.update(volumes=[{"name": "h", "hostPath": {"path": "/etc"}}])),
    ("pss-apparmor", lambda s: s["securityContext"].update(appArmorProfile={"type": "Unconfined"})),
    ("pss-selinux", lambda s: s["securityContext"].update(seLinuxOptions={"user": "system_u"})),
    ("pss-host-process", lambda s: s["securityContext"].update(windowsOptions={"hostProcess": True})),
])
def test_pod_level_controls(rule, mutate):
    assert rule in violations("kubernetes:core/v1:Pod", pod_props(pod(mutate)))


@pytest.mark.parametrize("rule, mutate", [
    ("pss-sysctls", lambda s: s["securityContext"].update(sysctls=[
        {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}, {"name": "kernel.shm_rmid_forced", "value": "1"}])),
    ("pss-volume-types", lambda s: s.update(volumes=[
        {"name": "a", "emptyDir": {}}, {"name": "b", "projected": {"sources": []}}, {"name": "c", "csi": {"driver": "d"}},
        {"name": "d", "persistentVolumeClaim": {"claimName": "x"}}, {"name": "e", "ephemeral": {}}])),
    ("pss-apparmor", lambda s: s["securityContext"].update(appArmorProfile={"type": "Localhost",
                                                                             "localhostProfile": "k8s-default"})),
    ("pss-selinux", lambda s: s["securityContext"].update(seLinuxOptions={"type": "container_init_t", "level": "s0:c1"})),
    ("pss-probe-host", lambda s: s["containers"][0]["livenessProbe"]["httpGet"].update(host="")),
    ("pss-host-ports", lambda s: s["containers"][0].update(ports=[{"containerPort": 8080, "hostPort": 0}])),
])
def test_tricky_compliant_pod_level_cases(rule, mutate):
    assert rule not in violations("kubernetes:core/v1:Pod", pod_props(pod(mutate)))


def test_legacy_apparmor_annotation():
    key = "container.apparmor.security.beta.kubernetes.io/app"
    bad = WORKLOADS["kubernetes:apps/v1:Deployment"](pod())
    bad["spec"]["template"]["metadata"] = {"annotations": {key: "unconfined"}}
    assert "pss-apparmor" in violations("kubernetes:apps/v1:Deployment", bad)
    for allowed in ("runtime/default", "localhost/my-profile"):
        bad["spec"]["template"]["metadata"]["annotations"][key] = allowed
        assert "pss-apparmor" not in violations("kubernetes:apps/v1:Deployment", bad)


def test_probes_on_long_running_workloads_only():
    no_probes = pod(container_mutate=lambda c: (c.pop("livenessProbe"), c.pop("readinessProbe")))
    for kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
        resource_type = next(k for k in WORKLOADS if k.endswith(f":{kind}"))
        assert "probes-required" in violations(resource_type, WORKLOADS[resource_type](no_probes))
    for resource_type in ("kubernetes:batch/v1:Job", "kubernetes:batch/v1:CronJob", "kubernetes:core/v1:Pod"):
        assert "probes-required" not in violations(resource_type, WORKLOADS[resource_type](no_probes))
    # An init container runs to completion: it needs no probe.
    with_init = pod()
    with_init["initContainers"] = [{k: v for k, v in GOOD_CONTAINER.items() if "Probe" not in k} | {"name": "init"}]
    assert "probes-required" not in violations("kubernetes:apps/v1:Deployment",
                                               WORKLOADS["kubernetes:apps/v1:Deployment"](with_init))


def test_probes_required_on_replication_controllers():
    # An RC keeps its pods running like a ReplicaSet; check --manifests reads them.
    rc = "kubernetes:core/v1:ReplicationController"
    no_probes = pod(container_mutate=lambda c: (c.pop("livenessProbe"), c.pop("readinessProbe")))
    body = {"metadata": {"name": "rc", "namespace": "shop"}, "spec": {"replicas": 2, "template": {"spec": no_probes}}}
    assert "probes-required" in violations(rc, body)
    body["spec"]["template"]["spec"] = pod()
    assert "probes-required" not in violations(rc, body)


def test_secret_env_from_a_secret_is_fine():
    spec = pod(container_mutate=lambda c: c.update(env=[
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
        {"name": "LOG_LEVEL", "value": "info"}, {"name": "API_TOKEN", "value": ""}]))
    assert "no-secret-literals-in-env" not in violations("kubernetes:core/v1:Pod", pod_props(spec))


def test_automount_token_explicitly_true():
    spec = pod(lambda s: s.update(automountServiceAccountToken=True))
    assert "no-automount-service-account-token" in violations("kubernetes:core/v1:Pod", pod_props(spec))
    account = {"metadata": {"name": "a", "namespace": "shop"}, "automountServiceAccountToken": True}
    assert "no-automount-service-account-token" in violations("kubernetes:core/v1:ServiceAccount", account)
    for value in (False, None):
        account["automountServiceAccountToken"] = value
        assert "no-automount-service-account-token" not in violations("kubernetes:core/v1:ServiceAccount", account)


def namespace(name, enforce, **labels):
    return {"metadata": {"name": name, "labels": {"pod-security.kubernetes.io/enforce": enforce, **labels}}}


def test_privileged_namespace_and_its_exemption_by_name():
    assert "namespace-not-privileged" in violations("kubernetes:core/v1:Namespace", namespace("tools", "privileged"))
    assert "namespace-not-privileged" not in violations("kubernetes:core/v1:Namespace", namespace("tools", "baseline"))
    config = {"all": "mandatory", "namespace-not-privileged": {"exemptions": [{"namespace": "logging", "reason": "r"}]}}
    assert "namespace-not-privileged" not in violations("kubernetes:core/v1:Namespace",
                                                        namespace("logging", "privileged"), config)
    assert "namespace-not-privileged" in violations("kubernetes:core/v1:Namespace",
                                                    namespace("tools", "privileged"), config)


ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"


@pytest.mark.parametrize("rule, resource_type, rule_body, bad", [
    ("rbac-no-cluster-wide-secret-read", CLUSTER_ROLE, {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}, True),
    ("rbac-no-cluster-wide-secret-read", ROLE, {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}, False),
    ("rbac-no-cluster-wide-secret-read", CLUSTER_ROLE, {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]}, False),
    ("rbac-no-escalation-verbs", ROLE, {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["escalate"]}, True),
    ("rbac-no-escalation-verbs", CLUSTER_ROLE, {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"]}, True),
    ("rbac-no-escalation-verbs", ROLE, {"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"]}, True),
    ("rbac-no-escalation-verbs", ROLE, {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["get"]}, False),
    ("rbac-no-nodes-proxy", CLUSTER_ROLE, {"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]}, True),
    ("rbac-no-nodes-proxy", CLUSTER_ROLE, {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}, False),
    # '*' in verbs, resources or apiGroups matches what it covers, as the RBAC authorizer reads it
    ("rbac-no-cluster-wide-secret-read", CLUSTER_ROLE, {"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}, True),
    ("rbac-no-cluster-wide-secret-read", CLUSTER_ROLE, {"apiGroups": [""], "resources": ["secrets"], "verbs": ["*"]}, True),
    ("rbac-no-cluster-wide-secret-read", CLUSTER_ROLE, {"apiGroups": ["*"], "resources": ["*"], "verbs": ["list"]}, True),
    ("rbac-no-cluster-wide-secret-read", CLUSTER_ROLE, {"apiGroups": ["apps"], "resources": ["*"], "verbs": ["*"]}, False),
    ("rbac-no-escalation-verbs", ROLE, {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["*"]}, True),
    ("rbac-no-escalation-verbs", ROLE, {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, True),
    ("rbac-no-escalation-verbs", CLUSTER_ROLE, {"apiGroups": [""], "resources": ["*"], "verbs": ["*"]}, True),
    ("rbac-no-escalation-verbs", ROLE, {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["*"], "verbs": ["bind"]}, True),
    ("rbac-no-escalation-verbs", ROLE, {"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}, False),
    ("rbac-no-escalation-verbs", ROLE, {"apiGroups": ["apps"], "resources": ["*"], "verbs": ["*"]}, False),
    ("rbac-no-nodes-proxy", CLUSTER_ROLE, {"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}, True),
    ("rbac-no-nodes-proxy", CLUSTER_ROLE, {"apiGroups": [""], "resources": ["*/proxy"], "verbs": ["get"]}, True),
    ("rbac-no-nodes-proxy", CLUSTER_ROLE, {"apiGroups": ["*"], "resources": ["nodes/proxy"], "verbs": ["*"]}, True),
])
def test_rbac_escalation_paths(rule, resource_type, rule_body, bad):
    role = {"metadata": {"name": "r", "namespace": "shop"}, "rules": [rule_body]}
    assert (rule in violations(resource_type, role)) is bad


@pytest.mark.parametrize("group, bad", [("system:masters", True), ("system:anonymous", True),
                                        ("system:unauthenticated", True), ("team:shop:viewer", False)])
def test_bindings_to_privileged_groups(group, bad):
    for kind in ("RoleBinding", "ClusterRoleBinding"):
        binding = {"metadata": {"name": "b", "namespace": "shop"}, "roleRef": {"kind": "ClusterRole", "name": "view"},
                   "subjects": [{"kind": "Group", "name": group}]}
        found = violations(f"kubernetes:rbac.authorization.k8s.io/v1:{kind}", binding)
        assert ("rbac-no-privileged-group-binding" in found) is bad


# -- Stack rules ----------------------------------------------------------------------------

def subject(kind_type, props, name=None):
    name = name or props["metadata"]["name"]
    return Subject(kind_type, name, f"urn:{kind_type}:{name}", props)


def team_objects(namespace_name="shop"):
    return [
        subject("kubernetes:core/v1:Namespace", namespace(namespace_name, "restricted", **{"eks-platform/team": namespace_name})),
        subject("kubernetes:core/v1:ResourceQuota", {"metadata": {"name": "q", "namespace": namespace_name}}),
        subject("kubernetes:core/v1:LimitRange", {"metadata": {"name": "l", "namespace": namespace_name}}),
        subject("kubernetes:networking.k8s.io/v1:NetworkPolicy", {"metadata": {"name": "deny", "namespace": namespace_name},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}),
    ]


def stack_violations(subjects, rule):
    return [v for v in evaluate(subjects, {"all": "mandatory"}) if v.policy == rule]


@pytest.mark.parametrize("drop, message", [(1, "ResourceQuota"), (2, "LimitRange"), (3, "default-deny NetworkPolicy")])
def test_team_namespace_isolation(drop, message):
    objects = team_objects()
    assert stack_violations(objects, "team-namespace-isolation") == []
    del objects[drop]
    found = stack_violations(objects, "team-namespace-isolation")
    assert len(found) == 1 and message in found[0].message
    assert found[0].resource == "kubernetes:core/v1:Namespace: shop"


def test_a_policy_with_rules_is_not_default_deny():
    objects = team_objects()
    objects[3].props["spec"]["ingress"] = [{"from": [{"podSelector": {}}]}]
    assert stack_violations(objects, "team-namespace-isolation")


def deployment(replicas, labels=None):
    return subject("kubernetes:apps/v1:Deployment", {"metadata": {"name": "web", "namespace": "shop"}, "spec": {
        "replicas": replicas, "template": {"metadata": {"labels": labels or {"app": "web"}}, "spec": pod()}}})


def pdb(**budget):
    return subject("kubernetes:policy/v1:PodDisruptionBudget", {"metadata": {"name": "web", "namespace": "shop"},
                   "spec": {"selector": {"matchLabels": {"app": "web"}}, **budget}})


@pytest.mark.parametrize("objects, bad", [
    ([deployment(3)], True),
    ([deployment(1)], False),
    ([deployment(3), pdb(maxUnavailable=1)], False),
    ([deployment(3), pdb(maxUnavailable=0)], True),
    ([deployment(3), pdb(minAvailable=3)], True),
    ([deployment(3), pdb(minAvailable=2)], False),
    ([deployment(3), pdb(minAvailable="100%")], True),
    ([deployment(4), pdb(maxUnavailable="25%")], False),
    ([deployment(3, {"app": "other"}), pdb(maxUnavailable=1)], True),
])
def test_replicated_deployments_have_a_drainable_pdb(objects, bad):
    assert bool(stack_violations(objects, "replicated-deployments-have-drainable-pdb")) is bad


def test_team_ingress_needs_tls_and_an_issuer():
    ingress = {"metadata": {"name": "web", "namespace": "shop",
                            "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt-prod"}},
               "spec": {"rules": [{"host": "shop.example.com"}],
                        "tls": [{"hosts": ["shop.example.com"], "secretName": "web-tls"}]}}
    objects = team_objects() + [subject("kubernetes:networking.k8s.io/v1:Ingress", ingress)]
    assert stack_violations(objects, "team-ingress-tls") == []
    no_issuer = copy.deepcopy(ingress)
    no_issuer["metadata"]["annotations"] = {}
    assert stack_violations(team_objects() + [subject("kubernetes:networking.k8s.io/v1:Ingress", no_issuer)],
                            "team-ingress-tls")
    no_tls = copy.deepcopy(ingress)
    del no_tls["spec"]["tls"]
    assert stack_violations(team_objects() + [subject("kubernetes:networking.k8s.io/v1:Ingress", no_tls)],
                            "team-ingress-tls")
    # Outside team namespaces the resource rule (ingress-tls) applies, not this one.
    no_tls["metadata"]["namespace"] = "tools"
    assert stack_violations(team_objects() + [subject("kubernetes:networking.k8s.io/v1:Ingress", no_tls)],
                            "team-ingress-tls") == []
