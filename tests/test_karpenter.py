"""Karpenter as the node autoscaler (issue #17, item 2), read from the offline plans: dev runs it,
prod keeps cluster-autoscaler, so both kinds are planned by the shipped stacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from components.charts import CHARTS
from components.config import parse_stack_config
from components.karpenter import controller_placement, node_pool_spec
from components.karpenter_iam import INTERRUPTION_EVENTS
from components.node_groups import NODE_MANAGED_POLICIES
from components.workload_identity import pod_identity_trust_policy
from config_cases import problems, stack_values
from conftest import PlanView, run_preflight
from crd_schema import load_crds, validation_errors
from helpers import shipped_config
from preflight.check import Subject, evaluate
from preflight.mocks import _hex

RELEASE = "kubernetes:helm.sh/v3:Release"
CLUSTER = "eks-platform-dev"
REGION = shipped_config("dev").region  # the stack file's, so the tests hold in any region
CLUSTER_ARN = f"arn:aws:eks:{REGION}:123456789012:cluster/{CLUSTER}"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"


@pytest.fixture(scope="module")
def dev(plans) -> PlanView:
    return plans["dev"]


def child(plan: PlanView, resource_type: str, name: str) -> dict:
    return plan.one(resource_type, name)


def release(plan: PlanView, name: str) -> list[dict]:
    return [r for r in plan.of_type(RELEASE) if r["name"] == name]


def role_arn(plan: PlanView, role_name: str) -> str:
    """The ARN the mock gives an auto-named role (preflight/mocks.py)."""
    return f"arn:aws:iam::123456789012:role/{role_name}"


def node_role_name(plan: PlanView) -> str:
    return plan.one(NODE_CLASS)["inputs"]["spec"]["role"]


# -- the switch -----------------------------------------------------------------------------

def test_dev_runs_karpenter_and_prod_cluster_autoscaler(plans):
    assert parse_stack_config(stack_values("dev")).autoscaler.kind == "karpenter"
    assert parse_stack_config(stack_values("prod")).autoscaler.kind == "cluster-autoscaler"
    assert plans["dev"].of_type("eks-platform:cluster:Karpenter") and not release(plans["dev"], "autoscaler-chart")
    assert not plans["prod"].of_type("eks-platform:cluster:Karpenter") and release(plans["prod"], "autoscaler-chart")
    assert not plans["prod"].of_type(NODE_POOL) and not plans["prod"].of_type(NODE_CLASS)


def test_cluster_autoscaler_stays_the_default():
    raw = stack_values("prod")
    raw.pop("autoscaler", None)
    assert parse_stack_config(raw).autoscaler.kind == "cluster-autoscaler"


# -- the controller -------------------------------------------------------------------------

def test_controller_chart_is_the_pinned_oci_chart_on_the_system_group(dev: PlanView):
    chart, = release(dev, "karpenter-chart")
    inputs = chart["inputs"]
    assert (inputs["chart"], inputs["version"]) == ("oci://public.ecr.aws/karpenter/karpenter", "1.14.1")
    assert CHARTS["karpenter"].reference == inputs["chart"] and "repositoryOpts" not in inputs
    assert inputs["namespace"] == "kube-system" and inputs["atomic"] is True
    values = inputs["values"]
    assert values["nodeSelector"] == {"kubernetes.io/os": "linux", "eks-platform/node-group": "system"}
    assert values["dnsPolicy"] == "Default", "Karpenter must not need CoreDNS to launch the nodes CoreDNS runs on"
    assert {"key": "CriticalAddonsOnly", "operator": "Exists"} in values["tolerations"]
    queue = dev.one("aws:sqs/queue:Queue")["inputs"]
    assert values["settings"] == {"clusterName": CLUSTER, "interruptionQueue": queue["name"]}
    # Pod Identity: the ServiceAccount carries no IRSA annotation.
    assert values["serviceAccount"] == {"name": "karpenter", "annotations": {}}
    # It waits for the nodes it runs on, its role (and so its association) and the agent.
    groups = {g["urn"] for g in dev.of_type("eks:index:ManagedNodeGroup")}
    agent = next(a["urn"] for a in dev.of_type("eks:index:Addon") if a["inputs"]["addonName"] == "eks-pod-identity-agent")
    association = dev.one("aws:eks/podIdentityAssociation:PodIdentityAssociation", "karpenter-controller-association")
    assert groups | {agent, association["urn"]} <= set(chart["dependencies"])


def test_controller_tolerates_its_groups_taints():
    raw = stack_values("dev")
    raw["nodeGroups"][0]["taints"] = [{"key": "CriticalAddonsOnly", "value": "true", "effect": "NO_SCHEDULE"}]
    placement = controller_placement(parse_stack_config(raw).node_groups[0])
    assert {"key": "CriticalAddonsOnly", "operator": "Equal", "value": "true", "effect": "NoSchedule"} in \
        placement["tolerations"]


def test_controller_role_trusts_pod_identity_for_its_service_account_only(dev: PlanView):
    component = dev.one("eks-platform:iam:WorkloadRole", "karpenter-controller")
    role = next(r for r in dev.children(component) if r["type"] == "aws:iam/role:Role")
    assert json.loads(role["inputs"]["assumeRolePolicy"]) == json.loads(
        pod_identity_trust_policy(CLUSTER_ARN, "kube-system", "karpenter"))
    association = dev.one("aws:eks/podIdentityAssociation:PodIdentityAssociation", "karpenter-controller-association")["inputs"]
    assert (association["clusterName"], association["namespace"], association["serviceAccount"]) == (
        CLUSTER, "kube-system", "karpenter")


def controller_policy(plan: PlanView) -> dict:
    component = plan.one("eks-platform:iam:WorkloadRole", "karpenter-controller")
    policy = next(r for r in plan.children(component) if r["type"] == "aws:iam/rolePolicy:RolePolicy")
    assert len(policy["inputs"]["policy"]) <= 10240, "IAM: a role's inline policies hold 10,240 characters"
    return json.loads(policy["inputs"]["policy"])


def test_controller_policy_is_upstreams_scoped_to_this_cluster(dev: PlanView):
    statements = {s["Sid"]: s for s in controller_policy(dev)["Statement"]}
    assert set(statements) == {
        "AllowScopedEC2InstanceAccessActions", "AllowScopedEC2LaunchTemplateAccessActions",
        "AllowScopedEC2InstanceActionsWithTags", "AllowScopedResourceCreationTagging", "AllowScopedResourceTagging",
        "AllowScopedDeletion", "AllowPassingInstanceRole", "AllowScopedInstanceProfileCreationActions",
        "AllowScopedInstanceProfileTagActions", "AllowScopedInstanceProfileActions",
        "AllowAPIServerEndpointDiscovery", "AllowInterruptionQueueActions", "AllowRegionalReadActions",
        "AllowSSMReadActions", "AllowPricingReadActions", "AllowUnscopedInstanceProfileListAction",
        "AllowInstanceProfileReadActions"}
    owned = {f"aws:ResourceTag/kubernetes.io/cluster/{CLUSTER}": "owned"}
    # Everything that launches, tags or deletes is limited to this cluster's tagged resources.
    for sid in ("AllowScopedEC2LaunchTemplateAccessActions", "AllowScopedDeletion", "AllowScopedResourceTagging"):
        assert statements[sid]["Condition"]["StringEquals"].items() >= owned.items(), sid
    for sid in ("AllowScopedEC2InstanceActionsWithTags", "AllowScopedResourceCreationTagging",
                "AllowScopedInstanceProfileCreationActions"):
        assert statements[sid]["Condition"]["StringEquals"][
            f"aws:RequestTag/kubernetes.io/cluster/{CLUSTER}"] == "owned", sid
    assert "ec2:TerminateInstances" in statements["AllowScopedDeletion"]["Action"]
    # PassRole: only the node role, only to EC2.
    assert statements["AllowPassingInstanceRole"]["Resource"] == role_arn(dev, node_role_name(dev))
    assert statements["AllowAPIServerEndpointDiscovery"]["Resource"] == CLUSTER_ARN
    queue_name = dev.one("aws:sqs/queue:Queue")["inputs"]["name"]
    assert statements["AllowInterruptionQueueActions"]["Resource"] == f"arn:aws:sqs:{REGION}:123456789012:{queue_name}"
    assert statements["AllowRegionalReadActions"]["Condition"] == {"StringEquals": {"aws:RequestedRegion": REGION}}
    assert not [s for s in statements.values() if s["Action"] == "*" or "*" in s["Action"]]


# -- interruption handling ------------------------------------------------------------------

def test_interruption_queue_is_encrypted_and_only_eventbridge_sends(dev: PlanView):
    queue = dev.one("aws:sqs/queue:Queue")["inputs"]
    assert queue["sqsManagedSseEnabled"] is True and queue["messageRetentionSeconds"] == 300
    queue_arn = f"arn:aws:sqs:{REGION}:123456789012:{queue['name']}"
    policy = json.loads(dev.one("aws:sqs/queuePolicy:QueuePolicy")["inputs"]["policy"])
    allows = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    denies = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    # Only this stack's rules: a forged interruption event would make Karpenter replace a node.
    rule_arns = [f"arn:aws:events:{REGION}:123456789012:rule/{r['name']}-{_hex(r['name'], 7)}"
                 for r in dev.of_type("aws:cloudwatch/eventRule:EventRule")]
    # Every message comes through those rules, so EventBridge is the one sender; upstream's
    # unconditioned sqs.amazonaws.com grant is not there (components/karpenter_iam.py says why).
    assert [(s["Principal"], s["Action"], s["Resource"], list(s.get("Condition", {}))) for s in allows] == [
        ({"Service": "events.amazonaws.com"}, "sqs:SendMessage", queue_arn, ["ArnEquals"])]
    assert sorted(allows[0]["Condition"]["ArnEquals"]["aws:SourceArn"]) == sorted(rule_arns)
    deny, = denies
    assert (deny["Principal"], deny["Action"], deny["Resource"]) == ("*", "sqs:*", queue_arn)
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_eventbridge_rules_send_every_interruption_event_to_the_queue(dev: PlanView):
    rules = {r["name"]: json.loads(r["inputs"]["eventPattern"]) for r in dev.of_type("aws:cloudwatch/eventRule:EventRule")}
    expected = {f"karpenter-{key}": {"source": [source], "detail-type": [detail]}
                for key, (source, detail) in INTERRUPTION_EVENTS.items()}
    assert rules == expected
    detail_types = {d for _, d in INTERRUPTION_EVENTS.values()}
    assert {"EC2 Spot Instance Interruption Warning", "EC2 Instance Rebalance Recommendation",
            "EC2 Instance State-change Notification", "AWS Health Event"} <= detail_types
    targets = dev.of_type("aws:cloudwatch/eventTarget:EventTarget")
    assert {t["name"] for t in targets} == set(expected)
    queue_name = dev.one("aws:sqs/queue:Queue")["inputs"]["name"]
    assert all(t["inputs"]["arn"] == f"arn:aws:sqs:{REGION}:123456789012:{queue_name}" and t["inputs"]["rule"]
               for t in targets)


# -- the nodes ------------------------------------------------------------------------------

def test_node_role_has_the_node_policies_and_an_ec2_linux_access_entry(dev: PlanView):
    role = dev.one("aws:iam/role:Role", "karpenter-node-role")
    statement, = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Service": "ec2.amazonaws.com"}
    attached = {r["inputs"]["policyArn"].rsplit("/", 1)[-1] for r in dev.of_type(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment") if r["name"].startswith("karpenter-node-")}
    assert attached == set(NODE_MANAGED_POLICIES) and "AmazonEKS_CNI_Policy" not in attached
    entry, = [e for e in dev.of_type("aws:eks/accessEntry:AccessEntry") if e["inputs"].get("type") == "EC2_LINUX"]
    assert entry["inputs"]["principalArn"] == role_arn(dev, node_role_name(dev))
    assert entry["inputs"]["clusterName"] == CLUSTER


def test_private_subnets_and_cluster_security_group_carry_the_discovery_tag(dev: PlanView):
    private = [s for s in dev.of_type("aws:ec2/subnet:Subnet") if s["inputs"]["tags"].get("kubernetes.io/role/internal-elb")]
    assert len(private) == 2 and all(s["inputs"]["tags"]["karpenter.sh/discovery"] == CLUSTER for s in private)
    public = [s for s in dev.of_type("aws:ec2/subnet:Subnet") if s["inputs"]["tags"].get("kubernetes.io/role/elb")]
    assert not any("karpenter.sh/discovery" in s["inputs"]["tags"] for s in public), "nodes stay in private subnets"
    tag = dev.one("aws:ec2/tag:Tag")["inputs"]
    assert (tag["key"], tag["value"]) == ("karpenter.sh/discovery", CLUSTER)
    assert tag["resourceId"] == f"sg-{_hex(CLUSTER + 'cluster')}", "the cluster security group (preflight/mocks.py)"


def test_node_class_is_hardened_and_finds_its_network_by_tag(dev: PlanView):
    spec = dev.one(NODE_CLASS)["inputs"]["spec"]
    assert spec["role"].startswith("karpenter-node-role-"), "Karpenter v1 makes the instance profile of this role"
    assert spec["metadataOptions"]["httpTokens"] == "required" and spec["metadataOptions"]["httpPutResponseHopLimit"] == 1
    device, = spec["blockDeviceMappings"]
    assert device["ebs"] == {"volumeSize": "50Gi", "volumeType": "gp3", "encrypted": True, "deleteOnTermination": True}
    assert spec["amiSelectorTerms"] == [{"alias": "al2023@latest"}]
    assert spec["subnetSelectorTerms"] == spec["securityGroupSelectorTerms"] == [
        {"tags": {"karpenter.sh/discovery": CLUSTER}}]


def test_node_pools_come_from_config(dev: PlanView):
    pools = parse_stack_config(stack_values("dev")).autoscaler.karpenter.node_pools
    planned = {p["inputs"]["metadata"]["name"]: p["inputs"]["spec"] for p in dev.of_type(NODE_POOL)}
    assert set(planned) == {pool.name for pool in pools}
    for pool in pools:
        spec = planned[pool.name]
        requirements = {r["key"]: r for r in spec["template"]["spec"]["requirements"]}
        assert requirements["karpenter.sh/capacity-type"]["values"] == ["spot"], "dev: spot"
        assert spec["limits"] == {"cpu": pool.cpu_limit, "memory": pool.memory_limit}
        assert spec["disruption"] == {"consolidationPolicy": pool.consolidation_policy,
                                      "consolidateAfter": pool.consolidate_after,
                                      "budgets": [{"nodes": b.nodes} for b in pool.budgets]}
        assert spec["template"]["spec"]["nodeClassRef"] == {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass",
                                                             "name": "default"}


def test_a_prod_node_pool_is_on_demand_with_a_budget_window():
    raw = stack_values("prod")
    raw["autoscaler"] = {"kind": "karpenter", "karpenter": {"retainedNodeGroups": ["workload"], "nodePools": [{
        "name": "general", "capacityTypes": ["on-demand"], "cpuLimit": 256, "memoryLimit": "1Ti",
        "budgets": [{"nodes": "10%"}, {"nodes": "0", "schedule": "0 8 * * mon-fri", "duration": "10h"}],
        "taints": [{"key": "dedicated", "effect": "NO_SCHEDULE"}]}]}}
    pool, = parse_stack_config(raw).autoscaler.karpenter.node_pools
    spec = node_pool_spec(pool)
    assert spec["template"]["spec"]["requirements"][0]["values"] == ["on-demand"]
    assert spec["limits"] == {"cpu": "256", "memory": "1Ti"}
    assert spec["disruption"]["budgets"][1] == {"nodes": "0", "schedule": "0 8 * * mon-fri", "duration": "10h"}
    assert spec["template"]["spec"]["taints"] == [{"key": "dedicated", "effect": "NoSchedule"}]


def test_karpenter_objects_are_valid_against_the_charts_crds(dev: PlanView, reference: Path):
    crds = load_crds(reference / "crds")
    for resource_type, api_version, kind in ((NODE_CLASS, "karpenter.k8s.aws/v1", "EC2NodeClass"),
                                             (NODE_POOL, "karpenter.sh/v1", "NodePool")):
        for resource in dev.of_type(resource_type):
            manifest = {"apiVersion": api_version, "kind": kind, "spec": resource["inputs"]["spec"]}
            assert list(validation_errors(manifest, crds[(api_version, kind)])) == [], resource["name"]
    # The checker would catch a misspelt field.
    spec = dict(dev.one(NODE_CLASS)["inputs"]["spec"], metadataOption={"httpTokens": "required"})
    assert list(validation_errors({"spec": spec}, crds[("karpenter.k8s.aws/v1", "EC2NodeClass")]))


def test_karpenter_objects_wait_for_the_chart_and_platform_layers_wait_for_karpenter(dev: PlanView):
    chart, = release(dev, "karpenter-chart")
    node_class = dev.one(NODE_CLASS)
    assert chart["urn"] in node_class["dependencies"]
    entry = next(e for e in dev.of_type("aws:eks/accessEntry:AccessEntry") if e["inputs"].get("type") == "EC2_LINUX")
    assert entry["urn"] in node_class["dependencies"], "nodes must be able to join before the first is launched"
    for pool in dev.of_type(NODE_POOL):
        assert {chart["urn"], node_class["urn"]} <= set(pool["dependencies"])
    # `pulumi destroy` removes the platform's workloads while Karpenter still runs to drain its nodes.
    monitoring = next(r for r in dev.resources if r["type"].endswith(":Monitoring") and not r["custom"])
    assert {p["urn"] for p in dev.of_type(NODE_POOL)} <= set(monitoring["dependencies"])


def test_karpenter_chart_values_use_keys_the_chart_knows(dev: PlanView, reference: Path):
    from helpers import commented_keys, unknown_keys
    text = (reference / "charts" / "karpenter" / "values.yaml").read_text()
    chart = yaml.safe_load(text)
    values = release(dev, "karpenter-chart")[0]["inputs"]["values"]
    assert unknown_keys(values, chart, commented=frozenset(commented_keys(text))) == []
    assert unknown_keys({"settings": {"interruptionQueueName": "q"}}, chart) == ["settings.interruptionQueueName"]


def test_gate_and_readiness_pass_with_karpenter_on(dev):
    result = run_preflight("check", "--plan", str(dev.path))
    assert result.returncode == 0, result.stdout + result.stderr
    findings = [line for line in result.stdout.splitlines() if line.strip().startswith("- [")]
    assert not [f for f in findings if "readiness-order" in f or "karpenter" in f.lower()], findings


# -- config errors --------------------------------------------------------------------------

def karpenter_dev() -> dict:
    return stack_values("dev")


def test_karpenter_needs_the_group_its_controller_runs_on():
    raw = karpenter_dev()
    raw["autoscaler"]["karpenter"]["controllerNodeGroup"] = "platform"
    assert any(p.startswith("autoscaler.karpenter.controllerNodeGroup: names node group 'platform', which is not in "
                            "nodeGroups") for p in problems(raw))


def test_karpenter_refuses_node_groups_nothing_would_scale_unless_retained():
    raw = karpenter_dev()
    raw["nodeGroups"].append(dict(raw["nodeGroups"][0], name="workload"))
    assert any(p.startswith("nodeGroups[1]: 'workload': with autoscaler.kind karpenter") for p in problems(raw))
    raw["autoscaler"]["karpenter"]["retainedNodeGroups"] = ["workload"]
    assert parse_stack_config(raw).autoscaler.karpenter.retained_node_groups == ["workload"]
    raw["autoscaler"]["karpenter"]["retainedNodeGroups"] = ["workload", "gpu"]
    assert any(p.startswith("autoscaler.karpenter.retainedNodeGroups[1]: 'gpu' is not in nodeGroups")
               for p in problems(raw))


def test_karpenter_needs_node_pools_with_unique_names_and_valid_settings():
    raw = karpenter_dev()
    raw["autoscaler"]["karpenter"]["nodePools"] = []
    assert any(p.startswith("autoscaler.karpenter.nodePools: karpenter needs at least one NodePool") for p in problems(raw))
    pool = {"name": "general", "capacityTypes": ["spot"], "cpuLimit": "8", "memoryLimit": "32Gi"}
    raw["autoscaler"]["karpenter"]["nodePools"] = [pool, dict(pool)]
    assert "autoscaler.karpenter.nodePools: NodePool name 'general' is used more than once" in problems(raw)
    raw["autoscaler"]["karpenter"]["nodePools"] = [dict(pool, consolidateAfter="1 minute", capacityTypes=["reserved"],
                                                        budgets=[{"nodes": "10%", "schedule": "@daily"}])]
    found = problems(raw)
    assert any(p.startswith("autoscaler.karpenter.nodePools[0].consolidateAfter: must be a Karpenter duration")
               for p in found)
    assert any(p.startswith("autoscaler.karpenter.nodePools[0].capacityTypes[0]") for p in found)
    assert any("schedule and duration go together" in p for p in found)


def test_each_kind_refuses_the_other_kinds_settings():
    raw = karpenter_dev()
    raw["autoscaler"]["expander"] = "least-waste"
    assert "autoscaler.expander: is a cluster-autoscaler setting, and autoscaler.kind is karpenter; remove it " \
           "(Karpenter's settings live under autoscaler.karpenter)" in problems(raw)
    raw = stack_values("prod")
    assert parse_stack_config(raw).autoscaler.karpenter.node_pools == []
    raw["autoscaler"]["karpenter"] = {"controllerNodeGroup": "system"}
    assert any(p.startswith("autoscaler.karpenter: is read only with autoscaler.kind: karpenter") for p in problems(raw))


def test_karpenter_needs_a_kubernetes_minor_its_chart_supports():
    raw = karpenter_dev()
    raw["cluster"]["kubernetesVersion"] = "1.29"
    assert any(p.startswith("autoscaler.kind: the pinned Karpenter chart supports Kubernetes 1.30 to 1.36, not "
                            "cluster.kubernetesVersion 1.29") for p in problems(raw))
    # cluster-autoscaler's image table does not apply to Karpenter.
    assert not any(p.startswith("autoscaler.imageTag") for p in problems(raw))


# -- the gate's rules -----------------------------------------------------------------------

def violations(resource_type: str, props: dict) -> set[str]:
    return {v.policy for v in evaluate([Subject(resource_type, "r", "urn:r", props)], {"all": "mandatory"})}


def test_rule_refuses_a_node_class_with_imdsv1_a_hop_limit_above_1_or_an_unencrypted_volume(dev: PlanView):
    good = dev.one(NODE_CLASS)["inputs"]
    assert "karpenter-nodes-hardened" not in violations(NODE_CLASS, good)
    assert "karpenter-nodes-hardened" not in violations(NODE_CLASS, {"spec": {"role": "r"}}), "Karpenter's defaults"
    for mutate in (lambda s: s["metadataOptions"].update(httpTokens="optional"),
                   lambda s: s["metadataOptions"].update(httpPutResponseHopLimit=2),
                   lambda s: s["blockDeviceMappings"][0]["ebs"].pop("encrypted")):
        spec = json.loads(json.dumps(good["spec"]))
        mutate(spec)
        assert "karpenter-nodes-hardened" in violations(NODE_CLASS, {**good, "spec": spec})


def test_rule_refuses_a_node_pool_without_limits(dev: PlanView):
    good = dev.one(NODE_POOL)["inputs"]
    assert "karpenter-nodepool-limits" not in violations(NODE_POOL, good)
    spec = dict(good["spec"], limits={"cpu": "8"})
    assert "karpenter-nodepool-limits" in violations(NODE_POOL, {**good, "spec": spec})
    # Cluster-scoped kinds are not "in the default namespace".
    assert "no-default-namespace" not in violations(NODE_POOL, good) | violations(NODE_CLASS, dev.one(NODE_CLASS)["inputs"])
