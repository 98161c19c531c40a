"""AWS and EKS rules (CIS EKS). Each checks both shapes a cluster can have in a plan:
in a real run the pulumi-eks components register with empty props and their children
(aws:eks/cluster:Cluster, aws:eks/nodeGroup:NodeGroup) carry the settings; offline only the
component inputs (eks:index:Cluster, eks:index:ManagedNodeGroup) exist."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from pulumi_policy import Severity

from .base import get, resource_rule, stack_rule

ALL_LOG_TYPES = {"api", "audit", "authenticator", "controllerManager", "scheduler"}
EKS_COMPONENT = "eks:index:Cluster"
EKS_CLUSTER = "aws:eks/cluster:Cluster"


def _is_empty_component(args) -> bool:
    # A remote component in a real run: nothing to check here, its child is checked instead.
    return args.resource_type.startswith("eks:index:") and not args.props


@resource_rule(
    "eks-secrets-encryption",
    "EKS clusters encrypt Kubernetes secrets with a KMS key (envelope encryption).",
    Severity.HIGH,
    "Set encryptionConfigKeyArn (eks.Cluster) or encryptionConfig with resources [secrets].",
)
def eks_secrets_encryption(args, report_violation):
    if args.resource_type == EKS_COMPONENT and not _is_empty_component(args):
        if not args.props.get("encryptionConfigKeyArn"):
            report_violation("The cluster does not encrypt secrets with a KMS key.")
    elif args.resource_type == EKS_CLUSTER:
        resources = get(args.props, "encryptionConfig", "resources") or []
        if "secrets" not in resources or not get(args.props, "encryptionConfig", "provider", "keyArn"):
            report_violation("The cluster does not encrypt secrets with a KMS key.")


@resource_rule(
    "eks-control-plane-logging",
    "EKS clusters send all five control-plane log types to CloudWatch.",
    Severity.MEDIUM,
    "Set enabledClusterLogTypes to api, audit, authenticator, controllerManager and scheduler.",
)
def eks_control_plane_logging(args, report_violation):
    if args.resource_type not in (EKS_COMPONENT, EKS_CLUSTER) or _is_empty_component(args):
        return
    enabled = set(args.props.get("enabledClusterLogTypes") or [])
    missing = sorted(ALL_LOG_TYPES - enabled)
    if missing:
        report_violation(f"Control-plane log types not enabled: {', '.join(missing)}.")


@resource_rule(
    "eks-endpoint-not-public-to-world",
    "The EKS API endpoint is not reachable from the whole internet.",
    Severity.HIGH,
    "Set endpointPublicAccess false (prod) or list specific publicAccessCidrs.",
)
def eks_endpoint_not_public(args, report_violation):
    if args.resource_type == EKS_COMPONENT and not _is_empty_component(args):
        public = args.props.get("endpointPublicAccess", True)
        cidrs = args.props.get("publicAccessCidrs") or ["0.0.0.0/0"]
    elif args.resource_type == EKS_CLUSTER:
        public = get(args.props, "vpcConfig", "endpointPublicAccess")
        public = True if public is None else public
        cidrs = get(args.props, "vpcConfig", "publicAccessCidrs") or ["0.0.0.0/0"]
    else:
        return
    if public in (True, "true") and any(str(c).endswith("/0") for c in cidrs):
        report_violation("The API endpoint is public and open to 0.0.0.0/0.")


@resource_rule(
    "nodes-require-imdsv2",
    "Worker nodes require IMDSv2 with a hop limit of 1, so pods cannot take the node's credentials.",
    Severity.HIGH,
    "Use a launch template with metadataOptions httpTokens 'required' and httpPutResponseHopLimit 1.",
)
def nodes_require_imdsv2(args, report_violation):
    if args.resource_type == "aws:ec2/launchTemplate:LaunchTemplate":
        options = args.props.get("metadataOptions") or {}
        if options.get("httpTokens") != "required":
            report_violation("The launch template allows IMDSv1 (metadataOptions.httpTokens is not 'required').")
        hop_limit = options.get("httpPutResponseHopLimit")
        if hop_limit is None or int(hop_limit) > 1:
            report_violation("The launch template lets pods reach instance metadata (hop limit above 1).")
    elif args.resource_type in ("eks:index:ManagedNodeGroup", "aws:eks/nodeGroup:NodeGroup"):
        if _is_empty_component(args):
            return
        if not args.props.get("launchTemplate") and not args.props.get("enableImdSv2"):
            report_violation("The node group has no launch template enforcing IMDSv2.")


@resource_rule(
    "ebs-volumes-encrypted",
    "EBS volumes (node root volumes included) are encrypted.",
    Severity.HIGH,
    "Set encrypted 'true' on every launch template block device and EBS volume.",
)
def ebs_volumes_encrypted(args, report_violation):
    if args.resource_type == "aws:ec2/launchTemplate:LaunchTemplate":
        for mapping in args.props.get("blockDeviceMappings") or []:
            if str(get(mapping, "ebs", "encrypted")).lower() != "true":
                report_violation(f"Block device {mapping.get('deviceName', '?')} is not encrypted.")
    elif args.resource_type == "aws:ebs/volume:Volume" and not args.props.get("encrypted"):
        report_violation("The EBS volume is not encrypted.")


@resource_rule(
    "kms-key-rotation",
    "Customer-managed KMS keys rotate their key material yearly.",
    Severity.MEDIUM,
    "Set enableKeyRotation true on the aws.kms.Key.",
)
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


@resource_rule(
    "no-ssh-from-world",
    "No security group opens SSH (port 22) to the whole internet.",
    Severity.CRITICAL,
    "Remove the rule; reach nodes through SSM Session Manager instead of SSH.",
)
def no_ssh_from_world(args, report_violation):
    if args.resource_type == "aws:ec2/securityGroup:SecurityGroup":
        rules = args.props.get("ingress") or []
    elif args.resource_type in ("aws:ec2/securityGroupRule:SecurityGroupRule",
                                "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        if args.props.get("type", "ingress") != "ingress":
            return
        rules = [args.props]
    else:
        return
    if any(_opens_ssh_to_world(rule) for rule in rules if isinstance(rule, Mapping)):
        report_violation("A security group rule opens port 22 to 0.0.0.0/0 or ::/0.")


def _as_list(value) -> list:
    if isinstance(value, str):
        return [value]
    return list(value) if isinstance(value, Sequence) else []


def _star_star_statements(document) -> int:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            return 0
    statements = _as_list(get(document, "Statement")) if isinstance(document, Mapping) else []
    if isinstance(get(document, "Statement"), Mapping):
        statements = [document["Statement"]]
    return sum(1 for s in statements if isinstance(s, Mapping) and s.get("Effect") == "Allow"
               and "*" in _as_list(s.get("Action")) and "*" in _as_list(s.get("Resource")))


@resource_rule(
    "no-iam-admin-policy",
    "No IAM policy allows every action on every resource.",
    Severity.CRITICAL,
    "List the actions and resources the principal needs instead of '*' on '*'.",
)
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


@stack_rule(
    "eks-addons-wait-for-nodes",
    "EKS add-ons that run pods (CoreDNS, EBS CSI, ...) are created after a node group, never inside "
    "the cluster component before any node exists.",
    Severity.HIGH,
    "Pass corednsAddonOptions {enabled: false} to eks.Cluster and create the add-on with eks.Addon "
    "(resolveConflictsOnCreate OVERWRITE) and dependsOn the node groups.",
)
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


@resource_rule(
    "no-broad-aws-managed-policies",
    "No IAM role, user or group gets a broad AWS managed policy (AdministratorAccess, PowerUserAccess, "
    "IAMFullAccess, AmazonEC2FullAccess or any other *FullAccess).",
    Severity.HIGH,
    "Attach a policy listing the actions and resources the workload needs (teams[].apps[].irsaPolicyArns "
    "takes your own policies' ARNs).",
)
def no_broad_aws_managed_policies(args, report_violation):
    if args.resource_type in _ATTACHMENTS:
        arns = [args.props.get("policyArn")]
    elif args.resource_type in ("aws:iam/role:Role", "aws:iam/user:User", "aws:iam/group:Group"):
        arns = _as_list(args.props.get("managedPolicyArns"))
    else:
        return
    for arn in arns:
        name = broad_managed_policy(arn)
        if name:
            report_violation(f"Attaches the AWS managed policy {name}, which grants far more than one "
                             "workload needs.")
