"""AWS: the EKS cluster (secrets encryption, control-plane logs, API endpoint, add-on order), its
nodes (IMDSv2, encrypted volumes, Karpenter's node classes and pools), IAM, KMS and the VPC.

Each rule reads both shapes a cluster can have in a plan (see helpers: the pulumi-eks component
offline, its aws:eks children in a real run).

Karpenter v1's defaults (EC2NodeClass CRD: metadataOptions httpTokens `required`, hop limit 1;
its default AL2023/Bottlerocket block devices are encrypted) are safe, so only what an
EC2NodeClass says explicitly is checked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from pulumi_policy import Severity, StackValidationArgs

from .base import PLATFORM, Reference, cis_eks, resource_rule, stack_rule
from .helpers import (
    EKS_CLUSTER,
    EKS_CLUSTER_TYPES,
    EKS_COMPONENT,
    NODE_GROUP_TYPES,
    SECURITY_GROUP_RULE_TYPES,
    api_group,
    as_list,
    get,
    is_empty_component,
    kind_of,
    of_type,
)

CIS_AWS = Reference("CIS AWS Foundations Benchmark")

ALL_LOG_TYPES = {"api", "audit", "authenticator", "controllerManager", "scheduler"}


@resource_rule("eks-secrets-encryption",
               "EKS clusters encrypt Kubernetes secrets with a KMS key (envelope encryption).", Severity.HIGH,
               "Set encryptionConfigKeyArn (eks.Cluster) or encryptionConfig with resources [secrets].",
               frameworks=[cis_eks("5.3.1")])
def eks_secrets_encryption(args, report_violation):
    if args.resource_type == EKS_COMPONENT and not is_empty_component(args.resource_type, args.props):
        if not args.props.get("encryptionConfigKeyArn"):
            report_violation("The cluster does not encrypt secrets with a KMS key.")
    elif args.resource_type == EKS_CLUSTER:
        resources = get(args.props, "encryptionConfig", "resources") or []
        if "secrets" not in resources or not get(args.props, "encryptionConfig", "provider", "keyArn"):
            report_violation("The cluster does not encrypt secrets with a KMS key.")


@resource_rule("eks-control-plane-logging", "EKS clusters send all five control-plane log types to CloudWatch.",
               Severity.MEDIUM,
               "Set enabledClusterLogTypes to api, audit, authenticator, controllerManager and scheduler.",
               frameworks=[cis_eks("2.1.1")])
def eks_control_plane_logging(args, report_violation):
    if args.resource_type not in EKS_CLUSTER_TYPES or is_empty_component(args.resource_type, args.props):
        return
    enabled = set(args.props.get("enabledClusterLogTypes") or [])
    missing = sorted(ALL_LOG_TYPES - enabled)
    if missing:
        report_violation(f"Control-plane log types not enabled: {', '.join(missing)}.")


def endpoint_access(resource_type: str, props) -> tuple | None:
    """(endpointPublicAccess, publicAccessCidrs) of a cluster in either shape, with EKS's defaults
    (public, open to 0.0.0.0/0); None for an empty component or any other type."""
    if resource_type == EKS_COMPONENT and not is_empty_component(resource_type, props):
        return props.get("endpointPublicAccess", True), props.get("publicAccessCidrs") or ["0.0.0.0/0"]
    if resource_type == EKS_CLUSTER:
        public = get(props, "vpcConfig", "endpointPublicAccess")
        return (True if public is None else public), get(props, "vpcConfig", "publicAccessCidrs") or ["0.0.0.0/0"]
    return None


@resource_rule("eks-endpoint-not-public-to-world", "The EKS API endpoint is not reachable from the whole internet.",
               Severity.HIGH, "Set endpointPublicAccess false (prod) or list specific publicAccessCidrs.",
               frameworks=[cis_eks("5.4.1")])
def eks_endpoint_not_public(args, report_violation):
    access = endpoint_access(args.resource_type, args.props)
    if access is None:
        return
    public, cidrs = access
    if public in (True, "true") and any(str(c).endswith("/0") for c in cidrs):
        report_violation("The API endpoint is public and open to 0.0.0.0/0.")


@resource_rule("nodes-require-imdsv2",
               "Worker nodes require IMDSv2 with a hop limit of 1, so pods cannot take the node's credentials.",
               Severity.HIGH,
               "Use a launch template with metadataOptions httpTokens 'required' and httpPutResponseHopLimit 1.",
               frameworks=[PLATFORM])
def nodes_require_imdsv2(args, report_violation):
    if args.resource_type == "aws:ec2/launchTemplate:LaunchTemplate":
        options = args.props.get("metadataOptions") or {}
        if options.get("httpTokens") != "required":
            report_violation("The launch template allows IMDSv1 (metadataOptions.httpTokens is not 'required').")
        hop_limit = options.get("httpPutResponseHopLimit")
        if hop_limit is None or int(hop_limit) > 1:
            report_violation("The launch template lets pods reach instance metadata (hop limit above 1).")
    elif args.resource_type in NODE_GROUP_TYPES:
        if is_empty_component(args.resource_type, args.props):
            return
        if not args.props.get("launchTemplate") and not args.props.get("enableImdSv2"):
            report_violation("The node group has no launch template enforcing IMDSv2.")


def unencrypted_devices(mappings) -> list[str]:
    """The device names of block device mappings (a launch template's, an EC2NodeClass's) whose
    EBS volume is not encrypted."""
    return [mapping.get("deviceName", "?") for mapping in as_list(mappings)
            if isinstance(mapping, Mapping) and str(get(mapping, "ebs", "encrypted")).lower() != "true"]


@resource_rule("ebs-volumes-encrypted", "EBS volumes (node root volumes included) are encrypted.", Severity.HIGH,
               "Set encrypted 'true' on every launch template block device and EBS volume.", frameworks=[CIS_AWS])
def ebs_volumes_encrypted(args, report_violation):
    if args.resource_type == "aws:ec2/launchTemplate:LaunchTemplate":
        for device in unencrypted_devices(args.props.get("blockDeviceMappings")):
            report_violation(f"Block device {device} is not encrypted.")
    elif args.resource_type == "aws:ebs/volume:Volume" and not args.props.get("encrypted"):
        report_violation("The EBS volume is not encrypted.")


@resource_rule("kms-key-rotation", "Customer-managed KMS keys rotate their key material yearly.", Severity.MEDIUM,
               "Set enableKeyRotation true on the aws.kms.Key.", frameworks=[CIS_AWS])
def kms_key_rotation(args, report_violation):
    if args.resource_type == "aws:kms/key:Key":
        if args.props.get("customerMasterKeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT" and \
                not args.props.get("enableKeyRotation"):
            report_violation("The KMS key does not rotate (enableKeyRotation is not true).")


def _opens_ssh_to_world(rule: Mapping) -> bool:
    low, high = rule.get("fromPort", 0), rule.get("toPort", 65535)
    protocol = str(rule.get("protocol", rule.get("ipProtocol", "tcp")))
    cidrs = list(rule.get("cidrBlocks") or []) + list(rule.get("ipv6CidrBlocks") or [])
    for key in ("cidrIpv4", "cidrIpv6"):
        if rule.get(key):
            cidrs.append(rule[key])
    covers_22 = protocol in ("-1", "all") or (int(low or 0) <= 22 <= int(high if high is not None else 65535))
    return covers_22 and any(str(c) in ("0.0.0.0/0", "::/0") for c in cidrs)


@resource_rule("no-ssh-from-world", "No security group opens SSH (port 22) to the whole internet.", Severity.CRITICAL,
               "Remove the rule; reach nodes through SSM Session Manager instead of SSH.", frameworks=[CIS_AWS])
def no_ssh_from_world(args, report_violation):
    if args.resource_type == "aws:ec2/securityGroup:SecurityGroup":
        rules = args.props.get("ingress") or []
    elif args.resource_type in SECURITY_GROUP_RULE_TYPES:
        if args.props.get("type", "ingress") != "ingress":
            return
        rules = [args.props]
    else:
        return
    if any(_opens_ssh_to_world(rule) for rule in rules if isinstance(rule, Mapping)):
        report_violation("A security group rule opens port 22 to 0.0.0.0/0 or ::/0.")


def _star_star_statements(document) -> int:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            return 0
    statements = as_list(get(document, "Statement")) if isinstance(document, Mapping) else []
    if isinstance(get(document, "Statement"), Mapping):
        statements = [document["Statement"]]
    return sum(1 for s in statements if isinstance(s, Mapping) and s.get("Effect") == "Allow"
               and "*" in as_list(s.get("Action")) and "*" in as_list(s.get("Resource")))


@resource_rule("no-iam-admin-policy", "No IAM policy allows every action on every resource.", Severity.CRITICAL,
               "List the actions and resources the principal needs instead of '*' on '*'.", frameworks=[CIS_AWS])
def no_iam_admin_policy(args, report_violation):
    documents = []
    if args.resource_type in ("aws:iam/policy:Policy", "aws:iam/rolePolicy:RolePolicy",
                              "aws:iam/userPolicy:UserPolicy", "aws:iam/groupPolicy:GroupPolicy"):
        documents.append(args.props.get("policy"))
    elif args.resource_type == "aws:iam/role:Role":
        documents += [p.get("policy") for p in args.props.get("inlinePolicies") or [] if isinstance(p, Mapping)]
    elif args.resource_type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment":
        if str(args.props.get("policyArn", "")).endswith(":policy/AdministratorAccess"):
            report_violation("The role gets AdministratorAccess.")
    if any(_star_star_statements(doc) for doc in documents if doc):
        report_violation("The policy allows Action '*' on Resource '*'.")


# Add-ons that run only DaemonSets are healthy with no node; every other add-on runs a
# Deployment that stays DEGRADED until a node exists, and its create times out.
DAEMONSET_ONLY_ADDONS = frozenset({"vpc-cni", "kube-proxy", "eks-pod-identity-agent",
                                   "aws-guardduty-agent", "eks-node-monitoring-agent"})
NODE_CAPACITY_TYPES = frozenset({"eks:index:ManagedNodeGroup", "eks:index:NodeGroup", "eks:index:NodeGroupV2",
                                 "aws:eks/nodeGroup:NodeGroup", "aws:eks/fargateProfile:FargateProfile"})
ADDON_TYPES = ("eks:index:Addon", "aws:eks/addon:Addon")


def _waits_for_nodes(resource) -> bool:
    """Whether the engine creates `resource` only after some node capacity: through what it
    depends on, or what any ancestor depends on (a child waits for its parent), transitively."""
    seen, todo = set(), [resource]
    while todo:
        current = todo.pop()
        if current is None or current.urn in seen:
            continue
        seen.add(current.urn)
        if current is not resource and current.resource_type in NODE_CAPACITY_TYPES:
            return True
        todo.extend(current.dependencies or [])
        todo.append(current.parent)
    return False


@stack_rule("eks-addons-wait-for-nodes",
            "EKS add-ons that run pods (CoreDNS, EBS CSI, ...) are created after a node group, never inside "
            "the cluster component before any node exists.", Severity.HIGH,
            "Pass corednsAddonOptions {enabled: false} to eks.Cluster and create the add-on with eks.Addon "
            "(resolveConflictsOnCreate OVERWRITE) and dependsOn the node groups.", frameworks=[PLATFORM])
def eks_addons_wait_for_nodes(args, report_violation):
    for resource in args.resources:
        props = resource.props
        if resource.resource_type == EKS_COMPONENT and props:
            options = props.get("corednsAddonOptions") or {}
            inline = options.get("enabled") is True or bool(options.get("configurationValues"))
            if inline and props.get("skipDefaultNodeGroup") and not props.get("fargate"):
                report_violation("The cluster component creates the CoreDNS add-on itself, before any node "
                                 "group exists: it stays DEGRADED and times out.", resource.urn)
        elif resource.resource_type in ADDON_TYPES:
            addon_name = props.get("addonName")
            if addon_name and addon_name not in DAEMONSET_ONLY_ADDONS and not _waits_for_nodes(resource):
                report_violation(f"The {addon_name} add-on runs pods but does not wait for any node group.",
                                 resource.urn)


# AWS managed policies that hand a workload most of an account: admin and power-user access,
# IAM (a role that can grant itself anything), and the *FullAccess family.
BROAD_MANAGED_POLICIES = frozenset({
    "AdministratorAccess", "PowerUserAccess", "IAMFullAccess", "SecretsManagerReadWrite",
    "AWSKeyManagementServicePowerUser", "job-function/SystemAdministrator",
    "job-function/NetworkAdministrator", "job-function/DatabaseAdministrator",
})
_ATTACHMENTS = ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "aws:iam/policyAttachment:PolicyAttachment",
                "aws:iam/userPolicyAttachment:UserPolicyAttachment",
                "aws:iam/groupPolicyAttachment:GroupPolicyAttachment")


def broad_managed_policy(arn) -> str | None:
    """The name of an AWS managed policy too broad to attach, else None."""
    prefix, sep, name = str(arn).partition(":iam::aws:policy/")
    if not sep or not prefix.startswith("arn:"):
        return None
    if name in BROAD_MANAGED_POLICIES or name.rsplit("/", 1)[-1].endswith("FullAccess"):
        return name
    return None


@resource_rule("no-broad-aws-managed-policies",
               "No IAM role, user or group gets a broad AWS managed policy (AdministratorAccess, PowerUserAccess, "
               "IAMFullAccess, AmazonEC2FullAccess or any other *FullAccess).", Severity.HIGH,
               "Attach a policy listing the actions and resources the workload needs (teams[].apps[].irsaPolicyArns "
               "takes your own policies' ARNs).", frameworks=[PLATFORM])
def no_broad_aws_managed_policies(args, report_violation):
    if args.resource_type in _ATTACHMENTS:
        arns = [args.props.get("policyArn")]
    elif args.resource_type in ("aws:iam/role:Role", "aws:iam/user:User", "aws:iam/group:Group"):
        arns = as_list(args.props.get("managedPolicyArns"))
    else:
        return
    for arn in arns:
        name = broad_managed_policy(arn)
        if name:
            report_violation(f"Attaches the AWS managed policy {name}, which grants far more than one "
                             "workload needs.")


# -- Karpenter ---------------------------------------------------------------------------------

KARPENTER_API_GROUPS = ("karpenter.k8s.aws", "karpenter.sh")


def _karpenter_kind(resource_type: str) -> str | None:
    return kind_of(resource_type) if api_group(resource_type) in KARPENTER_API_GROUPS else None


@resource_rule("karpenter-nodes-hardened",
               "Karpenter's EC2NodeClasses keep IMDSv2 with a hop limit of 1 and encrypt every EBS volume.",
               Severity.HIGH,
               "In the EC2NodeClass set metadataOptions httpTokens 'required' and httpPutResponseHopLimit 1 "
               "(or leave them unset), and encrypted: true on every blockDeviceMappings[].ebs.", frameworks=[PLATFORM])
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
    for device in unencrypted_devices(get(spec, "blockDeviceMappings")):
        report_violation(f"Block device {device} of the EC2NodeClass is not encrypted.")


@resource_rule("karpenter-nodepool-limits",
               "Every Karpenter NodePool has a CPU and memory limit, so a runaway workload cannot launch nodes "
               "without end.", Severity.MEDIUM,
               "Set spec.limits.cpu and spec.limits.memory on the NodePool "
               "(autoscaler.karpenter.nodePools[].cpuLimit, memoryLimit).", frameworks=[PLATFORM])
def karpenter_nodepool_limits(args, report_violation):
    if _karpenter_kind(args.resource_type) != "NodePool":
        return
    limits = get(args.props, "spec", "limits") or {}
    missing = [key for key in ("cpu", "memory") if not (isinstance(limits, Mapping) and limits.get(key))]
    if missing:
        report_violation(f"The NodePool has no {' or '.join(missing)} limit.")


# -- the VPC and the API endpoint, across resources -------------------------------------------

@stack_rule("vpc-flow-logs", "Every VPC of the stack records its traffic in VPC flow logs.",
            Severity.MEDIUM, "Keep network.flowLogs.enabled true (CloudWatch or S3, retention in retentionDays).",
            frameworks=[CIS_AWS])
def vpc_flow_logs(args: StackValidationArgs, report_violation) -> None:
    vpcs = of_type(args.resources, "aws:ec2/vpc:Vpc")
    # Counted, not matched by ID: a new VPC's ID is unknown during a preview.
    flow_logs = of_type(args.resources, "aws:ec2/flowLog:FlowLog")
    if not flow_logs:
        for vpc in vpcs:
            report_violation(f"VPC {vpc.name} has no flow log.", vpc.urn)
    elif len(flow_logs) < len(vpcs):
        report_violation(f"{len(vpcs)} VPCs but only {len(flow_logs)} flow logs.")


def _private_only(cluster) -> bool:
    access = endpoint_access(cluster.resource_type, cluster.props)
    return access is not None and access[0] in (False, "false")


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
            "List the deploy runners' and VPN subnets in cluster.endpoint.privateAccessCidrs.",
            frameworks=[PLATFORM])
def eks_private_endpoint_reachable(args: StackValidationArgs, report_violation) -> None:
    private = [c for c in of_type(args.resources, *EKS_CLUSTER_TYPES) if _private_only(c)]
    if private and not any(_admits_https(r) for r in of_type(args.resources, *SECURITY_GROUP_RULE_TYPES)):
        for cluster in private:
            report_violation(f"Cluster {cluster.name} has only a private endpoint and no security group "
                             "rule admits any network on port 443.", cluster.urn)
