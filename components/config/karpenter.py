"""Stack config for Karpenter (`autoscaler.kind: karpenter`): where its controller runs and the
NodePools it provisions nodes for.

With Karpenter, managed node groups hold only the capacity Karpenter itself needs: the group its
controller runs on (`controllerNodeGroup`). Karpenter must not run on nodes it manages (its chart
keeps it off them), so that group stays a managed node group. Any other group in `nodeGroups` is
refused unless it is listed in `retainedNodeGroups`: the way to keep old groups while their
workloads move to Karpenter nodes (docs/runbook.md, "Turning Karpenter on").
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from .environments import defaulted_keys_under, dev_default
from .base import DnsLabel, LabelKey, LabelValue, Quantity, StrictModel, TaintConfig, pattern
from .issues import ConfigIssue

# Karpenter's own duration syntax (NodePool CRD: consolidateAfter, expireAfter).
KarpenterDuration = Annotated[str, pattern(r"([0-9]+(s|m|h))+|Never", "a Karpenter duration", "30s")]
BudgetDuration = Annotated[str, pattern(r"(([0-9]+(h|m))|([0-9]+h[0-9]+m))(0s)?", "a duration in h/m", "8h")]
BudgetNodes = Annotated[str, pattern(r"((100|[0-9]{1,2})%|[0-9]+)", "a node count or percentage", "10%")]
# EC2NodeClass amiSelectorTerms alias: family@version, e.g. al2023@latest or al2023@v20260101.
AmiAlias = Annotated[str, pattern(r"(al2023|bottlerocket)@(latest|v[0-9][0-9.]*)",
                                  "an AL2023 or Bottlerocket AMI alias", "al2023@latest")]


class DisruptionBudgetConfig(StrictModel):
    """How many of a NodePool's nodes Karpenter may disrupt at once (NodePool disruption.budgets)."""

    nodes: BudgetNodes = "10%"
    """Nodes (count or percentage of the pool) that may be disrupted at once."""
    schedule: str | None = None
    """A cron schedule when the budget applies (with duration), e.g. '0 9 * * mon-fri'."""
    duration: BudgetDuration | None = None
    """How long the budget applies after each schedule time (with schedule)."""
    reasons: list[Literal["Underutilized", "Empty", "Drifted"]] = Field(default_factory=list)
    """Disruption reasons the budget limits; empty: all of them."""

    @model_validator(mode="after")
    def _schedule_with_duration(self) -> "DisruptionBudgetConfig":
        if (self.schedule is None) != (self.duration is None):
            raise ValueError("schedule and duration go together: set both or neither")
        return self


class NodePoolConfig(StrictModel):
    """One Karpenter NodePool: what nodes it may launch, how many, and when it may remove them."""

    name: DnsLabel
    """NodePool name (a Kubernetes object name)."""
    capacity_types: list[Literal["spot", "on-demand"]] = Field(min_length=1)
    """spot in dev (cheap, interruptible: the interruption queue drains a node before EC2 takes it);
    on-demand in prod."""
    instance_categories: list[Annotated[str, pattern(r"[a-z]+", "an EC2 instance category", "m")]] = \
        Field(default_factory=lambda: ["c", "m", "r"], min_length=1)
    """EC2 instance categories to choose from (c, m, r, ...)."""
    instance_generation_above: int = Field(5, ge=0)
    """Only instance generations newer than this (6 and later by default)."""
    architectures: list[Literal["amd64", "arm64"]] = Field(default_factory=lambda: ["amd64"], min_length=1)
    """CPU architectures of the nodes (arm64 needs arm64 images)."""
    cpu_limit: Quantity
    """The most CPU all of this pool's nodes may have together: Karpenter stops launching there."""
    memory_limit: Quantity
    """The most memory all of this pool's nodes may have together."""
    consolidation_policy: Literal["WhenEmpty", "WhenEmptyOrUnderutilized"] = "WhenEmptyOrUnderutilized"
    """Remove only empty nodes, or also replace underused ones with cheaper ones."""
    consolidate_after: KarpenterDuration = "1m"
    """How long a node must be empty or underused before consolidation."""
    expire_after: KarpenterDuration = "720h"
    """Nodes are replaced after this long (fresh AMIs and patches); 'Never' to keep them."""
    budgets: list[DisruptionBudgetConfig] = Field(default_factory=lambda: [DisruptionBudgetConfig()], min_length=1)
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    """Kubernetes labels on the pool's nodes."""
    taints: list[TaintConfig] = Field(default_factory=list)
    """As in nodeGroups (effect NO_SCHEDULE, NO_EXECUTE or PREFER_NO_SCHEDULE)."""
    weight: int | None = Field(None, ge=1, le=100)
    """Priority over other NodePools (higher first); none: no preference."""


class KarpenterConfig(StrictModel):
    """Karpenter (used when autoscaler.kind is karpenter)."""

    controller_node_group: DnsLabel = "system"
    """The managed node group (nodeGroups[].name) the Karpenter controller runs on."""
    controller_replicas: int = Field(dev_default("autoscaler.karpenter.controllerReplicas"), ge=1, le=10)
    """Replicas of the Karpenter controller (one leads, the others stand by). At least 2 in prod and
    with highAvailability."""
    retained_node_groups: list[DnsLabel] = Field(default_factory=list)
    """Other managed node groups kept while their workloads move to Karpenter nodes (nothing scales
    them); remove them from nodeGroups and here once drained."""
    ami_alias: AmiAlias = "al2023@latest"
    """EC2NodeClass AMI; pin a version (al2023@v20260101) in prod so nodes change only when you say."""
    root_volume_gib: int = Field(50, ge=20, le=16384)
    """Size of each node's encrypted gp3 root volume."""
    node_pools: list[NodePoolConfig] = Field(default_factory=list)


# The Kubernetes minors the pinned chart (1.14) supports: Karpenter's compatibility matrix
# (website/content/en/v1.14/upgrading/compatibility.md) lists 1.30 to 1.36 for Karpenter >= 1.13.
KARPENTER_KUBERNETES_MINORS = ("1.30", "1.31", "1.32", "1.33", "1.34", "1.35", "1.36")
# AutoscalerConfig keys that only cluster-autoscaler reads.
CLUSTER_AUTOSCALER_KEYS = {"expander": "expander", "scale_down_unneeded_time": "scaleDownUnneededTime",
                           "scale_down_delay_after_add": "scaleDownDelayAfterAdd",
                           "scale_down_utilization_threshold": "scaleDownUtilizationThreshold",
                           "image_tag": "imageTag"}


def karpenter_issues(autoscaler, node_groups, kubernetes_version: str) -> list[ConfigIssue]:
    """Cross-key checks of autoscaler.kind: keys of the other kind set, and with karpenter the
    node groups, NodePools and Kubernetes minor it needs."""
    if autoscaler.kind != "karpenter":
        # The environment defaults fill autoscaler.karpenter in every stack; only the file's own keys count.
        if autoscaler.karpenter.model_fields_set - defaulted_keys_under("autoscaler.karpenter"):
            return [ConfigIssue("autoscaler.karpenter", (
                "is read only with autoscaler.kind: karpenter (kind is cluster-autoscaler); set the kind or remove it"))]
        return []
    cfg: KarpenterConfig = autoscaler.karpenter
    issues = [ConfigIssue(f"autoscaler.{key}", (
        "is a cluster-autoscaler setting, and autoscaler.kind is karpenter; remove it (Karpenter's settings "
        "live under autoscaler.karpenter)")) for field, key in CLUSTER_AUTOSCALER_KEYS.items()
        if field in autoscaler.model_fields_set]
    if kubernetes_version not in KARPENTER_KUBERNETES_MINORS:
        issues.append(ConfigIssue("autoscaler.kind", (
            f"the pinned Karpenter chart supports Kubernetes {KARPENTER_KUBERNETES_MINORS[0]} to "
            f"{KARPENTER_KUBERNETES_MINORS[-1]}, not cluster.kubernetesVersion {kubernetes_version}; move the "
            "chart pin (components/charts.py) or use cluster-autoscaler")))
    names = [group.name for group in node_groups]
    if cfg.controller_node_group not in names:
        issues.append(ConfigIssue("autoscaler.karpenter.controllerNodeGroup", (
            f"names node group {cfg.controller_node_group!r}, which is not in nodeGroups (groups: {names}); "
            "Karpenter's controller needs a managed node group to run on (it never runs on nodes it launches)")))
    for r, retained in enumerate(cfg.retained_node_groups):
        if retained not in names:
            issues.append(ConfigIssue(f"autoscaler.karpenter.retainedNodeGroups[{r}]",
                                      f"{retained!r} is not in nodeGroups (groups: {names}); remove it"))
    kept = {cfg.controller_node_group, *cfg.retained_node_groups}
    for g, name in enumerate(names):
        if name not in kept:
            issues.append(ConfigIssue(f"nodeGroups[{g}]", (
                f"{name!r}: with autoscaler.kind karpenter, nodeGroups holds only the group Karpenter runs on "
                f"({cfg.controller_node_group!r}); nothing would scale this one. Give its capacity to "
                "autoscaler.karpenter.nodePools, or list it in autoscaler.karpenter.retainedNodeGroups "
                "while you drain it (docs/runbook.md)")))
    if not cfg.node_pools:
        issues.append(ConfigIssue("autoscaler.karpenter.nodePools", (
            "karpenter needs at least one NodePool, e.g. [{name: general, capacityTypes: [on-demand], "
            "cpuLimit: '64', memoryLimit: 256Gi}]")))
    pool_names = [pool.name for pool in cfg.node_pools]
    for name in sorted({n for n in pool_names if pool_names.count(n) > 1}):
        issues.append(ConfigIssue("autoscaler.karpenter.nodePools", f"NodePool name {name!r} is used more than once"))
    return issues
