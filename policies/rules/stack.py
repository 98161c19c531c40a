"""Stack rules: properties of the whole plan that no single resource shows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

from pulumi_policy import Severity, StackValidationArgs

from .base import get, kind_of, namespace_of, stack_rule

TEAM_LABEL = "eks-platform/team"
ISSUER_ANNOTATIONS = ("cert-manager.io/cluster-issuer", "cert-manager.io/issuer")


def _of_kind(args: StackValidationArgs, kind: str) -> list:
    return [r for r in args.resources if kind_of(r.resource_type) == kind]


def team_namespaces(args: StackValidationArgs) -> list:
    return [r for r in _of_kind(args, "Namespace")
            if (get(r.props, "metadata", "labels") or {}).get(TEAM_LABEL)]


def is_default_deny(props: Mapping) -> bool:
    spec = get(props, "spec") or {}
    return (get(spec, "podSelector") in ({}, None) and not get(spec, "podSelector", "matchLabels")
            and set(spec.get("policyTypes") or []) == {"Ingress", "Egress"}
            and not spec.get("ingress") and not spec.get("egress"))


@stack_rule("team-namespace-isolation",
            "Every team namespace has a ResourceQuota, a LimitRange and a default-deny NetworkPolicy.",
            Severity.HIGH, "Declare the team in stack config (teams[]); the Team component creates all three.")
def team_isolation(args: StackValidationArgs, report_violation) -> None:
    for namespace in team_namespaces(args):
        name = get(namespace.props, "metadata", "name")
        inside = [r for r in args.resources if namespace_of(r.props) == name]
        missing = [kind for kind in ("ResourceQuota", "LimitRange")
                   if not any(kind_of(r.resource_type) == kind for r in inside)]
        if not any(kind_of(r.resource_type) == "NetworkPolicy" and is_default_deny(r.props) for r in inside):
            missing.append("default-deny NetworkPolicy")
        if missing:
            report_violation(f"Team namespace {name} has no {', '.join(missing)}.", namespace.urn)


def _selects(selector: Optional[Mapping], labels: Mapping) -> bool:
    match = get(selector, "matchLabels") or {}
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


def allows_drain(pdb_spec: Mapping, replicas: int) -> bool:
    """Whether at least one pod may be evicted when all `replicas` are ready."""
    def amount(value: Any) -> Optional[int]:
        if isinstance(value, str) and value.endswith("%"):
            return int(replicas * int(value[:-1]) / 100 + 0.999999)  # Kubernetes rounds up
        return int(value) if value is not None else None
    max_unavailable, min_available = amount(pdb_spec.get("maxUnavailable")), amount(pdb_spec.get("minAvailable"))
    if max_unavailable is not None:
        return max_unavailable >= 1
    if min_available is not None:
        return min_available < replicas
    return False


@stack_rule("replicated-deployments-have-drainable-pdb",
            "Every Deployment with more than one replica has a PodDisruptionBudget that still lets a node drain.",
            Severity.MEDIUM, "Add a PDB with maxUnavailable: 1 (or minAvailable below the replica count).")
def deployments_have_pdb(args: StackValidationArgs, report_violation) -> None:
    pdbs = _of_kind(args, "PodDisruptionBudget")
    for deployment in _of_kind(args, "Deployment"):
        replicas = get(deployment.props, "spec", "replicas")
        if not isinstance(replicas, int) or replicas <= 1:
            continue
        labels = get(deployment.props, "spec", "template", "metadata", "labels") or {}
        namespace = namespace_of(deployment.props)
        matching = [p for p in pdbs if namespace_of(p.props) == namespace
                    and _selects(get(p.props, "spec", "selector"), labels)]
        name = get(deployment.props, "metadata", "name") or deployment.name
        if not matching:
            report_violation(f"Deployment {name} has {replicas} replicas and no PodDisruptionBudget.",
                             deployment.urn)
        elif not any(allows_drain(get(p.props, "spec") or {}, replicas) for p in matching):
            report_violation(f"Deployment {name}: its PodDisruptionBudget lets no pod be evicted, "
                             "so a node drain would block.", deployment.urn)


@stack_rule("team-ingress-tls", "Every Ingress in a team namespace serves all its hosts over TLS from a cert-manager issuer.",
            Severity.HIGH, "Give the app a host in stack config: the App component adds the tls block and issuer.")
def team_ingress_tls(args: StackValidationArgs, report_violation) -> None:
    teams = {get(n.props, "metadata", "name") for n in team_namespaces(args)}
    for ingress in _of_kind(args, "Ingress"):
        if namespace_of(ingress.props) not in teams:
            continue
        name = get(ingress.props, "metadata", "name") or ingress.name
        rules = get(ingress.props, "spec", "rules") or []
        hosts = {r.get("host") for r in rules if isinstance(r, Mapping) and r.get("host")}
        tls = get(ingress.props, "spec", "tls") or []
        covered = {h for entry in tls if isinstance(entry, Mapping) for h in entry.get("hosts") or []}
        annotations = get(ingress.props, "metadata", "annotations") or {}
        if hosts - covered or not isinstance(tls, Sequence) or not tls:
            report_violation(f"Ingress {name} serves {sorted(hosts - covered) or 'hosts'} without TLS.", ingress.urn)
        elif not any(annotations.get(a) for a in ISSUER_ANNOTATIONS):
            report_violation(f"Ingress {name} names no cert-manager issuer, so its certificate is never issued.",
                             ingress.urn)


def _of_type(args: StackValidationArgs, resource_type: str) -> list:
    return [r for r in args.resources if r.resource_type == resource_type]


@stack_rule("vpc-flow-logs", "Every VPC of the stack records its traffic in VPC flow logs (CIS AWS 3.9).",
            Severity.MEDIUM, "Keep network.flowLogs.enabled true (CloudWatch or S3, retention in retentionDays).")
def vpc_flow_logs(args: StackValidationArgs, report_violation) -> None:
    vpcs = _of_type(args, "aws:ec2/vpc:Vpc")
    # Counted, not matched by ID: a new VPC's ID is unknown during a preview.
    flow_logs = _of_type(args, "aws:ec2/flowLog:FlowLog")
    if not flow_logs:
        for vpc in vpcs:
            report_violation(f"VPC {vpc.name} has no flow log.", vpc.urn)
    elif len(flow_logs) < len(vpcs):
        report_violation(f"{len(vpcs)} VPCs but only {len(flow_logs)} flow logs.")


_CLUSTER_TYPES = ("eks:index:Cluster", "aws:eks/cluster:Cluster")
_INGRESS_TYPES = ("aws:ec2/securityGroupRule:SecurityGroupRule",
                  "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")


def _private_only(cluster) -> bool:
    if cluster.resource_type == "eks:index:Cluster":
        return bool(cluster.props) and cluster.props.get("endpointPublicAccess") in (False, "false")
    return get(cluster.props, "vpcConfig", "endpointPublicAccess") in (False, "false")


def _admits_https(rule) -> bool:
    props = rule.props
    if props.get("type", "ingress") != "ingress" or str(props.get("protocol", "tcp")) not in ("tcp", "6", "-1"):
        return False
    low, high = props.get("fromPort"), props.get("toPort")
    in_range = str(props.get("protocol")) == "-1" or (
        low is not None and int(low) <= 443 <= int(high if high is not None else low))
    return in_range and bool(props.get("cidrBlocks") or props.get("cidrIpv4"))


@stack_rule("eks-private-endpoint-reachable",
            "A cluster whose API endpoint is private admits some network on port 443, or nobody can deploy to it.",
            Severity.HIGH,
            "List the deploy runners' and VPN subnets in cluster.endpoint.privateAccessCidrs.")
def eks_private_endpoint_reachable(args: StackValidationArgs, report_violation) -> None:
    private = [c for t in _CLUSTER_TYPES for c in _of_type(args, t) if _private_only(c)]
    if private and not any(_admits_https(r) for t in _INGRESS_TYPES for r in _of_type(args, t)):
        for cluster in private:
            report_violation(f"Cluster {cluster.name} has only a private endpoint and no security group "
                             "rule admits any network on port 443.", cluster.urn)
