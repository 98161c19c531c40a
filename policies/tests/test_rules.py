"""Each rule: a violating and a compliant fixture. Pod rules are also tried in an init
container and inside every workload kind's pod template."""

from __future__ import annotations

import copy
import json

import pytest

from preflight.check import Subject, evaluate
from policies.rules import POLICIES
from rule_cases import WORKLOADS, pod, violations


@pytest.mark.parametrize("kind", WORKLOADS)
def test_compliant_pod_passes_in_every_workload_kind(kind):
    assert violations(kind, WORKLOADS[kind](pod())) == set()


POD_CASES = {
    "pss-privileged": dict(container_mutate=lambda c: c["securityContext"].update(privileged=True)),
    "pss-allow-privilege-escalation": dict(container_mutate=lambda c: c["securityContext"].pop("allowPrivilegeEscalation")),
    "pss-run-as-non-root": dict(container_mutate=lambda c: c["securityContext"].update(runAsNonRoot=False)),
    "pss-capabilities": dict(container_mutate=lambda c: c["securityContext"].update(capabilities={"drop": ["all"]})),
    "pss-seccomp": dict(container_mutate=lambda c: c["securityContext"].update(seccompProfile={"type": "Unconfined"})),
    "image-pinned": dict(container_mutate=lambda c: c.update(image="nginx:latest")),
    "resources-required": dict(container_mutate=lambda c: c["resources"]["limits"].pop("memory")),
    "read-only-root-filesystem": dict(container_mutate=lambda c: c["securityContext"].update(readOnlyRootFilesystem=False)),
    "pss-host-ports": dict(container_mutate=lambda c: c.update(ports=[{"containerPort": 80, "hostPort": 80}])),
    "pss-probe-host": dict(container_mutate=lambda c: c.update(lifecycle={"preStop": {"httpGet": {
        "host": "10.0.0.1", "path": "/", "port": 80}}})),
    "pss-apparmor": dict(container_mutate=lambda c: c["securityContext"].update(appArmorProfile={"type": "Unconfined"})),
    "pss-selinux": dict(container_mutate=lambda c: c["securityContext"].update(seLinuxOptions={"type": "spc_t"})),
    "pss-proc-mount": dict(container_mutate=lambda c: c["securityContext"].update(procMount="Unmasked")),
    "pss-host-process": dict(container_mutate=lambda c: c["securityContext"].update(windowsOptions={"hostProcess": True})),
    "no-secret-literals-in-env": dict(container_mutate=lambda c: c.update(env=[{"name": "DB_PASSWORD", "value": "hunter2"}])),
}


@pytest.mark.parametrize("rule", POD_CASES)
@pytest.mark.parametrize("kind", WORKLOADS)
def test_container_violation_in_every_workload_kind(rule, kind):
    assert rule in violations(kind, WORKLOADS[kind](pod(**POD_CASES[rule])))


@pytest.mark.parametrize("rule", POD_CASES)
def test_container_violation_inside_an_init_container(rule):
    found = violations("kubernetes:apps/v1:Deployment", WORKLOADS["kubernetes:apps/v1:Deployment"](
        pod(init=True, **POD_CASES[rule])))
    assert rule in found


@pytest.mark.parametrize("rule, mutate", [
    ("pss-host-namespaces", lambda s: s.update(hostNetwork=True)),
    ("pss-host-path-volumes", lambda s: s.update(volumes=[{"name": "logs", "hostPath": {"path": "/var/log"}}])),
    ("pss-run-as-non-root", lambda s: s["securityContext"].update(runAsUser=0)),
    ("run-as-non-root-needs-numeric-user", lambda s: s["securityContext"].pop("runAsUser")),
])
def test_pod_level_violations(rule, mutate):
    assert rule in violations("kubernetes:core/v1:Pod", WORKLOADS["kubernetes:core/v1:Pod"](pod(mutate)))


@pytest.mark.parametrize("rule, compliant_mutation", [
    ("pss-capabilities", lambda c: c["securityContext"]["capabilities"].update(add=["NET_BIND_SERVICE"])),
    ("pss-seccomp", lambda c: c["securityContext"].update(seccompProfile={"type": "Localhost",
                                                                           "localhostProfile": "p.json"})),
    ("image-pinned", lambda c: c.update(image="nginx@sha256:" + "b" * 64)),
    ("pss-run-as-non-root", lambda c: c["securityContext"].update(runAsNonRoot=True)),
    # The user may come from the container, and a real run's numbers are floats.
    ("run-as-non-root-needs-numeric-user", lambda c: c["securityContext"].update(runAsUser=1000.0)),
])
def test_tricky_compliant_cases(rule, compliant_mutation):
    assert rule not in violations("kubernetes:core/v1:Pod", WORKLOADS["kubernetes:core/v1:Pod"](
        pod(container_mutate=compliant_mutation)))


def test_the_kubelet_rule_wants_a_numeric_user_only():
    """The kubelet checks runAsNonRoot against runAsUser (or the image's numeric USER), never
    runAsGroup: a pod without a group starts (the platform's own pods name one anyway, see
    tests/test_observability.py)."""
    found = violations("kubernetes:core/v1:Pod", WORKLOADS["kubernetes:core/v1:Pod"](
        pod(lambda s: s["securityContext"].pop("runAsGroup"))))
    assert "run-as-non-root-needs-numeric-user" not in found


def test_host_path_exemption_is_by_namespace():
    props = WORKLOADS["kubernetes:apps/v1:DaemonSet"](
        pod(lambda s: s.update(volumes=[{"name": "logs", "hostPath": {"path": "/var/log"}}])))
    config = {"all": "mandatory", "pss-host-path-volumes": {"exemptions": [{"namespace": "logging", "reason": "r"}]}}
    assert "pss-host-path-volumes" in violations("kubernetes:apps/v1:DaemonSet", props, config)
    props["metadata"]["namespace"] = "logging"
    assert "pss-host-path-volumes" not in violations("kubernetes:apps/v1:DaemonSet", props, config)


@pytest.mark.parametrize("service_type, bad", [("LoadBalancer", True), ("NodePort", True), ("ClusterIP", False)])
def test_external_services(service_type, bad):
    props = {"metadata": {"name": "s", "namespace": "shop"}, "spec": {"type": service_type}}
    assert ("no-external-services" in violations("kubernetes:core/v1:Service", props)) is bad


def test_ingress_tls():
    props = {"metadata": {"name": "i", "namespace": "shop"},
             "spec": {"rules": [{"host": "a.example.com"}, {"host": "b.example.com"}],
                      "tls": [{"hosts": ["a.example.com"], "secretName": "a"}]}}
    assert "ingress-tls" in violations("kubernetes:networking.k8s.io/v1:Ingress", props)
    props["spec"]["tls"][0]["hosts"].append("b.example.com")
    assert "ingress-tls" not in violations("kubernetes:networking.k8s.io/v1:Ingress", props)


def test_rbac_rules():
    role = {"metadata": {"name": "r", "namespace": "shop"}, "rules": [{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}]}
    assert "rbac-no-wildcards" in violations("kubernetes:rbac.authorization.k8s.io/v1:Role", role)
    role["rules"][0]["resources"] = ["pods"]
    assert "rbac-no-wildcards" not in violations("kubernetes:rbac.authorization.k8s.io/v1:Role", role)
    binding = {"metadata": {"name": "b", "namespace": "shop"},
               "roleRef": {"kind": "ClusterRole", "name": "cluster-admin", "apiGroup": "rbac.authorization.k8s.io"}}
    assert "rbac-no-cluster-admin-binding" in violations("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", binding)
    binding["roleRef"]["name"] = "view"
    assert "rbac-no-cluster-admin-binding" not in violations("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", binding)


def test_default_namespace():
    props = {"metadata": {"name": "c"}, "data": {}}
    assert "no-default-namespace" in violations("kubernetes:core/v1:ConfigMap", props)
    props["metadata"]["namespace"] = "shop"
    assert "no-default-namespace" not in violations("kubernetes:core/v1:ConfigMap", props)


# -- AWS / EKS: both shapes ------------------------------------------------------------------

COMPONENT_OK = {"encryptionConfigKeyArn": "arn:aws:kms:eu-west-1:1:key/k", "endpointPublicAccess": False,
                "enabledClusterLogTypes": ["api", "audit", "authenticator", "controllerManager", "scheduler"]}
CHILD_OK = {"encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:eu-west-1:1:key/k"}},
            "vpcConfig": {"endpointPublicAccess": False, "endpointPrivateAccess": True},
            "enabledClusterLogTypes": ["api", "audit", "authenticator", "controllerManager", "scheduler"]}
AWS_CASES = [
    ("eks-secrets-encryption", "eks:index:Cluster", COMPONENT_OK, lambda p: p.pop("encryptionConfigKeyArn")),
    ("eks-secrets-encryption", "aws:eks/cluster:Cluster", CHILD_OK, lambda p: p.pop("encryptionConfig")),
    ("eks-control-plane-logging", "eks:index:Cluster", COMPONENT_OK, lambda p: p["enabledClusterLogTypes"].remove("audit")),
    ("eks-control-plane-logging", "aws:eks/cluster:Cluster", CHILD_OK, lambda p: p.pop("enabledClusterLogTypes")),
    ("eks-endpoint-not-public-to-world", "eks:index:Cluster", COMPONENT_OK, lambda p: p.update(endpointPublicAccess=True)),
    ("eks-endpoint-not-public-to-world", "aws:eks/cluster:Cluster", CHILD_OK,
     lambda p: p["vpcConfig"].update(endpointPublicAccess=True, publicAccessCidrs=["0.0.0.0/0"])),
    ("nodes-require-imdsv2", "aws:ec2/launchTemplate:LaunchTemplate",
     {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1}},
     lambda p: p["metadataOptions"].update(httpTokens="optional")),
    ("nodes-require-imdsv2", "aws:eks/nodeGroup:NodeGroup", {"launchTemplate": {"id": "lt-1", "version": "1"}},
     lambda p: p.pop("launchTemplate")),
    ("nodes-require-imdsv2", "eks:index:ManagedNodeGroup",
     {"capacityType": "SPOT", "launchTemplate": {"id": "lt-1", "version": "1"}},
     lambda p: p.pop("launchTemplate")),
    ("ebs-volumes-encrypted", "aws:ec2/launchTemplate:LaunchTemplate",
     {"blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true"}}]},
     lambda p: p["blockDeviceMappings"][0]["ebs"].update(encrypted="false")),
    ("kms-key-rotation", "aws:kms/key:Key", {"enableKeyRotation": True}, lambda p: p.update(enableKeyRotation=False)),
    ("no-ssh-from-world", "aws:ec2/securityGroup:SecurityGroup",
     {"ingress": [{"fromPort": 443, "toPort": 443, "protocol": "tcp", "cidrBlocks": ["0.0.0.0/0"]}]},
     lambda p: p["ingress"].append({"fromPort": 22, "toPort": 22, "protocol": "tcp", "cidrBlocks": ["0.0.0.0/0"]})),
    ("no-iam-admin-policy", "aws:iam/rolePolicy:RolePolicy",
     {"policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})},
     lambda p: p.update(policy=json.dumps({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": ["*"]}]}))),
]


@pytest.mark.parametrize("rule, resource_type, compliant, break_it", AWS_CASES)
def test_aws_rules_on_both_shapes(rule, resource_type, compliant, break_it):
    good = copy.deepcopy(compliant)
    assert rule not in violations(resource_type, good)
    break_it(good)
    assert rule in violations(resource_type, good)


def test_empty_remote_component_is_left_to_its_children():
    # In a real run eks:index:Cluster registers with empty props; its child is checked instead.
    assert violations("eks:index:Cluster", {}) == set()


def test_advisory_config_reports_but_does_not_enforce():
    found = evaluate([Subject("aws:kms/key:Key", "k", "urn:k", {})], {"all": "advisory"})
    assert [(v.policy, v.enforcement) for v in found] == [("kms-key-rotation", "advisory")]


HELM_RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"


def test_a_cluster_role_a_helm_release_installs_is_exempted_by_the_releases_namespace():
    """A ClusterRole has no namespace; the one a chart creates carries the namespace of its
    release (Helm stamps it), so an exemption of the chart's namespace covers it and nothing else."""
    role = {"metadata": {"name": "cert-manager-controller-issuers"},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}]}
    config = {"all": "mandatory", "rbac-no-cluster-wide-secret-read": {
        "exemptions": [{"namespace": "cert-manager", "reason": "r"}]}}
    kind = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
    assert "rbac-no-cluster-wide-secret-read" in violations(kind, role, config)
    role["metadata"]["annotations"] = {HELM_RELEASE_NAMESPACE: "shop"}
    assert "rbac-no-cluster-wide-secret-read" in violations(kind, role, config)
    role["metadata"]["annotations"] = {HELM_RELEASE_NAMESPACE: "cert-manager"}
    assert "rbac-no-cluster-wide-secret-read" not in violations(kind, role, config)


@pytest.mark.parametrize("rule", ["no-automount-service-account-token", "no-secret-literals-in-env",
                                  "probes-required", "pss-host-namespaces", "read-only-root-filesystem",
                                  "rbac-no-cluster-wide-secret-read", "rbac-no-wildcards"])
def test_rules_a_chart_breaks_by_design_are_exemptible_by_namespace(rule):
    policy = next(p for p in POLICIES if p.name == rule)
    assert "exemptions" in (policy.config_schema.properties if policy.config_schema else {})

