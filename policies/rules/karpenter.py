"""Karpenter rules: the nodes it launches are hardened like the managed node groups' (IMDSv2 with
hop limit 1, encrypted root volumes), and every NodePool is bounded.

Karpenter v1's defaults (EC2NodeClass CRD: metadataOptions httpTokens `required`, hop limit 1;
its default AL2023/Bottlerocket block devices are encrypted) are safe, so only what an
EC2NodeClass says explicitly is checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pulumi_policy import Severity

from .base import get, kind_of, resource_rule

KARPENTER_API_GROUPS = ("karpenter.k8s.aws/", "karpenter.sh/")


def _karpenter_kind(resource_type: str) -> str | None:
    api_version = resource_type.split(":")[1] if resource_type.count(":") >= 2 else ""
    return kind_of(resource_type) if api_version.startswith(KARPENTER_API_GROUPS) else None


@resource_rule(
    "karpenter-nodes-hardened",
    "Karpenter's EC2NodeClasses keep IMDSv2 with a hop limit of 1 and encrypt every EBS volume.",
    Severity.HIGH,
    "In the EC2NodeClass set metadataOptions httpTokens 'required' and httpPutResponseHopLimit 1 (or leave "
    "them unset), and encrypted: true on every blockDeviceMappings[].ebs.",
)
def karpenter_nodes_hardened(args, report_violation):
    if _karpenter_kind(args.resource_type) != "EC2NodeClass":
        return
    spec = args.props.get("spec") or {}
    options = get(spec, "metadataOptions") or {}
    if isinstance(options, Mapping):
        if options.get("httpTokens") not in (None, "required"):
            report_violation("The EC2NodeClass allows IMDSv1 (metadataOptions.httpTokens is not 'required').")
        hop_limit = options.get("httpPutResponseHopLimit")
        if hop_limit is not None and int(hop_limit) > 1:
            report_violation(f"The EC2NodeClass lets pods reach instance metadata (hop limit {int(hop_limit)}).")
    mappings = get(spec, "blockDeviceMappings") or []
    for mapping in mappings if isinstance(mappings, Sequence) else []:
        if isinstance(mapping, Mapping) and str(get(mapping, "ebs", "encrypted")).lower() != "true":
            report_violation(f"Block device {mapping.get('deviceName', '?')} of the EC2NodeClass is not encrypted.")


@resource_rule(
    "karpenter-nodepool-limits",
    "Every Karpenter NodePool has a CPU and memory limit, so a runaway workload cannot launch nodes without end.",
    Severity.MEDIUM,
    "Set spec.limits.cpu and spec.limits.memory on the NodePool (autoscaler.karpenter.nodePools[].cpuLimit, "
    "memoryLimit).",
)
def karpenter_nodepool_limits(args, report_violation):
    if _karpenter_kind(args.resource_type) != "NodePool":
        return
    limits = get(args.props, "spec", "limits") or {}
    missing = [key for key in ("cpu", "memory") if not (isinstance(limits, Mapping) and limits.get(key))]
    if missing:
        report_violation(f"The NodePool has no {' or '.join(missing)} limit.")
