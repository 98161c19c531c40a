"""Admission simulation (issue #14, deliverable 1): each test puts one deploy blocker back into a
copy of a shipped plan, or writes it as a fixture, and shows the check names the object."""

from __future__ import annotations

import copy

import pytest

from policies.rules import POLICIES
from preflight.readiness.admission import BASELINE_RULES, RESTRICTED_RULES, unclassified_pss_rules
from readiness_support import assess, manifests_assess, of_check, of_kind, registrations, stack_config


@pytest.fixture(scope="module")
def prod(plans):
    return plans["prod"]


def _without_numeric_user(security_context: dict | None) -> dict:
    context = dict(security_context or {})
    context.pop("runAsUser", None)
    context.pop("runAsGroup", None)
    context["runAsNonRoot"] = True
    return context


def test_ilm_job_without_numeric_run_as_user_is_refused_by_the_kubelet(prod):
    regs = registrations(prod)
    job = of_kind(regs, "Job", "logging")[0]
    pod = job.inputs["spec"]["template"]["spec"]
    pod["securityContext"] = _without_numeric_user(pod.get("securityContext"))
    for container in pod["containers"]:
        container["securityContext"] = _without_numeric_user(container.get("securityContext"))
    findings = [f for f in of_check(assess(regs), "readiness-kubelet-run-as-user") if f"resource {job.name})" in f.resource]
    assert findings and "Job logging/" in findings[0].resource
    assert "CreateContainerConfigError" in findings[0].message and "runAsUser" in findings[0].message

    pod["securityContext"]["runAsUser"] = pod["securityContext"]["runAsGroup"] = 100
    assert [f for f in of_check(assess(regs), "readiness-kubelet-run-as-user")
            if f"resource {job.name})" in f.resource] == []


def _default_solver(regs) -> None:
    """The HTTP-01 solver as cert-manager defaults it: no podTemplate, a NodePort Service."""
    for issuer in of_kind(regs, "ClusterIssuer"):
        for solver in issuer.inputs["spec"]["acme"]["solvers"]:
            ingress = (solver.get("http01") or {}).get("ingress")
            if ingress is not None:
                ingress.pop("podTemplate", None)
                ingress.pop("serviceType", None)


def test_http01_solver_below_the_team_limit_range_and_its_nodeport_are_refused(prod):
    regs = registrations(prod)
    _default_solver(regs)
    result = assess(regs)
    limit = [f for f in of_check(result, "readiness-limit-range") if "shop.platform.example.com" in f.resource]
    assert limit, [f.message for f in result.findings]
    assert "Ingress shop/frontend" in limit[0].resource and "ClusterIssuer letsencrypt-prod" in limit[0].resource
    assert any("cpu request 10m is below the minimum 100m" in f.message for f in limit)
    assert any("memory request 64Mi is below the minimum 128Mi" in f.message for f in limit)
    quota = [f for f in of_check(result, "readiness-resource-quota") if "services.nodeports" in f.message]
    assert quota and quota[0].resource.startswith("ResourceQuota shop/")
    assert "cm-acme-http-solver-shop.platform.example.com" in quota[0].message


def test_http01_solver_configured_within_the_team_limits_passes(prod):
    regs = registrations(prod)
    _default_solver(regs)
    for issuer in of_kind(regs, "ClusterIssuer"):
        for solver in issuer.inputs["spec"]["acme"]["solvers"]:
            if "http01" in solver:
                solver["http01"]["ingress"]["serviceType"] = "ClusterIP"
                solver["http01"]["ingress"]["podTemplate"] = {"spec": {"resources": {
                    "requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "100m", "memory": "128Mi"}}}}
    result = assess(regs)
    assert [f for f in result.findings if "HTTP-01 solver" in f.resource and f.check.startswith(
        ("readiness-limit-range", "readiness-resource-quota"))] == []
    assert not any("services.nodeports" in f.message for f in of_check(result, "readiness-resource-quota"))


def _namespace(name: str, level: str | None) -> dict:
    labels = {"pod-security.kubernetes.io/enforce": level} if level else {}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def _deployment(namespace: str, name: str = "web", replicas: int = 1, container: dict | None = None,
                pod: dict | None = None, **spec) -> dict:
    container = container or {"name": "web", "image": "registry.example.com/web:1.0",
                              "resources": {"requests": {"cpu": "250m", "memory": "256Mi"},
                                            "limits": {"cpu": "500m", "memory": "512Mi"}}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, **spec, "template": {
                "metadata": {"labels": {"app": name}}, "spec": {"containers": [container], **(pod or {})}}}}


def test_pod_security_follows_each_namespace_label_baseline_and_restricted_apart():
    # Baseline-clean but not restricted (no seccomp, no drop ALL, may run as root).
    documents = [_namespace("base", "baseline"), _namespace("strict", "restricted"), _namespace("open", None),
                 _deployment("base"), _deployment("strict"), _deployment("open")]
    findings = of_check(manifests_assess(documents), "readiness-pod-security")
    assert {f.resource.split(" (")[0] for f in findings} == {"Deployment strict/web"}
    assert all("enforces Pod Security 'restricted'" in f.message for f in findings)
    assert any("pss-seccomp" in f.message for f in findings) and any("pss-capabilities" in f.message for f in findings)

    privileged = {"name": "web", "image": "registry.example.com/web:1.0", "securityContext": {"privileged": True}}
    findings = of_check(manifests_assess([_namespace("base", "baseline"), _deployment("base", container=privileged)]),
                        "readiness-pod-security")
    assert findings and "'baseline'" in findings[0].message and "pss-privileged" in findings[0].message
    added = {"name": "web", "image": "registry.example.com/web:1.0",
             "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}
    findings = of_check(manifests_assess([_namespace("base", "baseline"), _deployment("base", container=added)]),
                        "readiness-pod-security")
    assert any("NET_ADMIN" in f.message for f in findings)


def test_every_pss_rule_of_the_pack_has_a_level():
    assert unclassified_pss_rules() == []
    names = {p.name for p in POLICIES}
    assert {"pss-privileged", "pss-host-namespaces", "pss-host-path-volumes"} <= names & set(BASELINE_RULES)
    assert {"pss-run-as-non-root", "pss-seccomp", "pss-capabilities"} <= names & set(RESTRICTED_RULES)


LIMITS = {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "limits", "namespace": "team"}, "spec": {
    "limits": [{"type": "Container", "default": {"cpu": "500m", "memory": "512Mi"},
                "defaultRequest": {"cpu": "250m", "memory": "256Mi"}, "min": {"cpu": "100m", "memory": "128Mi"},
                "max": {"cpu": "1", "memory": "1Gi"}, "maxLimitRequestRatio": {"cpu": "4"}}]}}


@pytest.mark.parametrize("resources, problem", [
    ({}, None),  # the LimitRange's defaults fill both
    ({"limits": {"cpu": "300m", "memory": "300Mi"}}, None),  # requests default to the limits
    ({"requests": {"cpu": "50m"}}, "cpu request 50m is below the minimum 100m"),
    ({"limits": {"cpu": "2"}}, "cpu limit 2 is above the maximum 1"),
    ({"requests": {"cpu": "100m"}, "limits": {"cpu": "1"}}, "cpu limit/request ratio 10 is above 4"),
    ({"requests": {"cpu": "800m"}}, "cpu request 800m is above its limit 500m once defaults apply"),
])
def test_limit_range_applies_defaults_then_bounds(resources, problem):
    container = {"name": "web", "image": "registry.example.com/web:1.0", "resources": resources}
    findings = of_check(manifests_assess([LIMITS, _deployment("team", container=container)]), "readiness-limit-range")
    if problem is None:
        assert findings == []
    else:
        assert any(problem in f.message and f.resource.startswith("Deployment team/web") for f in findings), \
            [f.message for f in findings]


def _quota(**hard) -> dict:
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "quota", "namespace": "team"},
            "spec": {"hard": hard}}


def _hpa(minimum: int) -> dict:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "team"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "minReplicas": minimum, "maxReplicas": 10}}


def test_quota_holds_the_pods_at_hpa_minimum_plus_surge():
    strategy = {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}}
    fits = [_quota(**{"requests.cpu": "1", "pods": "4"}), _hpa(3), _deployment("team", replicas=1, **strategy)]
    assert of_check(manifests_assess(fits), "readiness-resource-quota") == []
    strategy["strategy"]["rollingUpdate"]["maxSurge"] = 2
    over = [_quota(**{"requests.cpu": "1", "pods": "4"}), _hpa(3), _deployment("team", replicas=1, **strategy)]
    messages = [f.message for f in of_check(manifests_assess(over), "readiness-resource-quota")]
    assert any("requests.cpu 1.25 but the quota allows 1" in m and "Deployment team/web 3+2 surge" in m
               for m in messages), messages
    assert any("pods 5 but the quota allows 4" in m for m in messages)


def test_quota_counts_volume_claims_and_forbidden_service_types():
    stateful = _deployment("team", replicas=3)
    stateful["kind"] = "StatefulSet"
    stateful["spec"]["volumeClaimTemplates"] = [{"metadata": {"name": "data"}, "spec": {
        "resources": {"requests": {"storage": "10Gi"}}}}]
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "public", "namespace": "team"},
               "spec": {"type": "LoadBalancer", "ports": [{"port": 443}]}}
    documents = [_quota(**{"requests.storage": "20Gi", "persistentvolumeclaims": "2", "services.loadbalancers": "0",
                           "services.nodeports": "0"}), stateful, service]
    messages = [f.message for f in of_check(manifests_assess(documents), "readiness-resource-quota")]
    for expected in ("requests.storage 30Gi but the quota allows 20Gi", "persistentvolumeclaims 3 but the quota allows 2",
                     "services.loadbalancers 1 but the quota allows 0", "services.nodeports 1 but the quota allows 0"):
        assert any(expected in m for m in messages), (expected, messages)


def test_quota_without_a_request_default_refuses_the_pod():
    container = {"name": "web", "image": "registry.example.com/web:1.0", "resources": {}}
    findings = of_check(manifests_assess([_quota(**{"requests.cpu": "4"}), _deployment("team", container=container)]),
                        "readiness-resource-quota")
    assert any("set no requests.cpu" in f.message and f.resource.startswith("Deployment team/web") for f in findings)


def test_team_quota_from_stack_config_is_what_the_plan_checks(prod, tmp_path):
    # The shop team at HPA minimum (3+1 surge pods each for frontend and backend) against a quota cut to 3.5
    # CPUs: enough for the steady state (3.25, which the stack config itself requires), not for a rollout.
    config = stack_config("prod", lambda text: text.replace('requestsCpu: "40"', 'requestsCpu: "3.5"'), tmp_path)
    regs = registrations(prod)
    for quota in of_kind(regs, "ResourceQuota", "shop"):
        quota.inputs["spec"]["hard"]["requests.cpu"] = config.teams[0].quota.requests_cpu
    messages = [f.message for f in of_check(assess(regs, config), "readiness-resource-quota")]
    assert any("Namespace shop needs requests.cpu" in m and "the quota allows 3.5" in m and "Deployment shop/frontend 3+1"
               in m for m in messages), messages


def test_copies_do_not_leak_between_tests(prod):
    assert copy.deepcopy(prod.resources) == prod.resources


def test_odd_manifests_are_left_to_the_schema_check_not_a_traceback():
    odd = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "odd", "namespace": "team"},
         "spec": {"replicas": "two", "strategy": {"rollingUpdate": {"maxSurge": "lots"}}, "template": {"spec": {
             "containers": [{"name": "c", "ports": [{"containerPort": "http"}],
                             "resources": {"limits": {"cpu": "a lot"}}}, "not a container"]}}}},
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "odd",
                                                                                        "namespace": "team"},
         "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "odd"}, "minReplicas": "x"}},
        {**LIMITS, "spec": {"limits": [{"type": "Container", "min": {"cpu": "tiny"}, "max": {"memory": []}}]}},
        _quota(**{"requests.cpu": "one"}),
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "np", "namespace": "team"},
         "spec": {"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "not-a-cidr"}}],
                                                 "ports": [{"port": "8x", "endPort": "y"}]}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i", "namespace": "team",
                                                                               "annotations": {}},
         "spec": {"tls": ["not-a-mapping"]}},
    ]
    result = manifests_assess(odd)
    assert "Reachability:" in "\n".join(result.lines)
