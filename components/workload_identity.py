"""How an in-cluster workload gets AWS credentials: EKS Pod Identity or IRSA, behind one helper.

`WorkloadRole` makes the IAM role of one ServiceAccount and whatever binds it to that account:
with Pod Identity an `aws.eks.PodIdentityAssociation` (the ServiceAccount needs no annotation);
with IRSA the role-arn annotation in `service_account_annotations`. A component switches between
them with `kind=`; both trust exactly one (namespace, ServiceAccount) of this cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks

from components.config.base import WorkloadIdentity as IdentityKind
from components.irsa import irsa_trust_policy, workload_role

POD_IDENTITY_AGENT = "eks-pod-identity-agent"
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
# An IRSA role keeps the type token and description the IrsaRole component had, so a stack that
# stays on IRSA (workloadIdentity: irsa, or an app's irsaPolicyArns) plans no change to its roles:
# same URNs, nothing replaced, no alias needed.
_COMPONENT_TYPES = {"pod-identity": "eks-platform:iam:WorkloadRole", "irsa": "eks-platform:iam:IrsaRole"}


def cluster_arn(partition: str, region: str, account_id: str, cluster_name: str) -> str:
    return f"arn:{partition}:eks:{region}:{account_id}:cluster/{cluster_name}"


def pod_identity_trust_policy(eks_cluster_arn: str, namespace: str, service_account: str) -> str:
    """Trust EKS Pod Identity for exactly one ServiceAccount of one cluster.

    AWS's user guide ("Create IAM role with trust policy required by EKS Pod Identity") gives the
    service principal and both actions, and narrows a role with the session tags Pod Identity sets
    ("Enable or disable session tags": eks-cluster-arn, kubernetes-namespace,
    kubernetes-service-account). Without them any association in the account, on any cluster,
    could use the role. It documents no aws:SourceArn/aws:SourceAccount for this principal, so the
    cluster is pinned by its ARN tag. Session tags must stay enabled on the association.
    """
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AllowEksAuthToAssumeRoleForPodIdentity",
            "Effect": "Allow",
            "Principal": {"Service": "pods.eks.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": {"StringEquals": {
                "aws:RequestTag/eks-cluster-arn": eks_cluster_arn,
                "aws:RequestTag/kubernetes-namespace": namespace,
                "aws:RequestTag/kubernetes-service-account": service_account,
            }},
        }],
    })


@dataclass
class ClusterIdentity:
    """What a cluster offers its workloads for AWS credentials; built once, handed to components."""

    cluster: pulumi.Resource
    """Associations wait for it: their cluster name is a plain string, not an output of it."""
    cluster_name: str
    cluster_arn: pulumi.Input[str]
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    """Issuer host and path without https:// (eks.Cluster.oidc_issuer)."""
    agent: Optional[pulumi.Resource] = None
    """The Pod Identity agent add-on: associations wait for it, so a workload that waits for its
    role finds the agent on its node."""


@dataclass
class WorkloadRoleArgs:
    identity: ClusterIdentity
    namespace: str
    service_account: str
    kind: IdentityKind = "pod-identity"
    managed_policy_arns: list[str] = field(default_factory=list)
    inline_policy: Optional[pulumi.Input[str]] = None
    """A policy document (JSON) attached as this role's own policy."""
    tags: dict[str, str] = field(default_factory=dict)
    addon: bool = False
    """The ServiceAccount is a managed EKS add-on's: the add-on binds the role itself
    (`addon_settings`), so no standalone association is made (EKS would then hold two)."""


class WorkloadRole(pulumi.ComponentResource):
    kind: IdentityKind
    arn: pulumi.Output[str]
    role_name: pulumi.Output[str]
    service_account_annotations: dict[str, pulumi.Input[str]]
    """What the ServiceAccount must carry: the role ARN for IRSA, nothing for Pod Identity."""
    addon_settings: dict[str, pulumi.Input]
    """aws.eks.Addon arguments that bind the role to an add-on's ServiceAccount: its Pod Identity
    association (AWS user guide, "Use Pod Identities to assign an IAM role to an Amazon EKS
    add-on"), or the IRSA role ARN EKS annotates the account with."""

    def __init__(self, name: str, args: WorkloadRoleArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(_COMPONENT_TYPES[args.kind], name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        identity, namespace, service_account = args.identity, args.namespace, args.service_account
        if args.kind == "irsa":
            trust = pulumi.Output.all(identity.oidc_provider_arn, identity.oidc_issuer).apply(
                lambda values: irsa_trust_policy(values[0], values[1], namespace, service_account))
            description = f"IRSA role of {namespace}/{service_account}"
        else:
            trust = pulumi.Output.from_input(identity.cluster_arn).apply(
                lambda arn: pod_identity_trust_policy(arn, namespace, service_account))
            description = f"pod-identity role of {namespace}/{service_account} in {identity.cluster_name}"
        role = workload_role(name, trust, description, args.managed_policy_arns, args.inline_policy, args.tags, child)

        self.kind = args.kind
        self.service_account_annotations = {}
        if args.kind == "irsa":
            self.service_account_annotations = {IRSA_ANNOTATION: role.arn}
            self.addon_settings = {"service_account_role_arn": role.arn}
        elif args.addon:
            self.addon_settings = {"pod_identity_associations": [aws.eks.AddonPodIdentityAssociationArgs(
                role_arn=role.arn, service_account=service_account)]}
        else:
            self.addon_settings = {}
            aws.eks.PodIdentityAssociation(
                f"{name}-association",
                cluster_name=identity.cluster_name,
                namespace=namespace,
                service_account=service_account,
                role_arn=role.arn,
                # The trust policy matches on the session tags; without them no pod gets credentials.
                disable_session_tags=False,
                tags=args.tags,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[r for r in (identity.cluster, identity.agent) if r]),
            )
        self.arn = role.arn
        self.role_name = role.name
        self.register_outputs({"arn": role.arn})


def pulumi_eks_addon_alias(name: str, component_type: str, component_parent: pulumi.Resource) -> pulumi.Alias:
    """The URN an aws.eks.Addon had as the child of pulumi_eks's component (`eks.Addon`, whose
    parent is the cluster it is given, or `eks.VpcCniAddon`, parented as asked), which creates it
    under the component's own name (pulumi-eks nodejs/eks/addons). pulumi_eks 4.4 cannot set an
    add-on's Pod Identity associations, so those add-ons become aws.eks.Addon: with this alias
    `pulumi up` updates the add-on EKS runs instead of creating it a second time, which EKS refuses
    (ResourceInUseException)."""
    return pulumi.Alias(parent=pulumi.create_urn(name, component_type, parent=component_parent))


def pod_identity_agent(name: str, cluster: eks.Cluster, version: str, tags: dict[str, str],
                       opts: pulumi.ResourceOptions) -> eks.Addon:
    """The EKS Pod Identity agent add-on. A DaemonSet: healthy before any node exists, so it is
    created with the cluster's other early add-ons (the gate's `eks-addons-wait-for-nodes` lists
    it among the add-ons that need not wait). Nodes call it through AmazonEKSWorkerNodePolicy's
    eks-auth:AssumeRoleForPodIdentity."""
    return eks.Addon(
        name,
        cluster=cluster,
        addon_name=POD_IDENTITY_AGENT,
        addon_version=version,
        resolve_conflicts_on_create="OVERWRITE",
        resolve_conflicts_on_update="OVERWRITE",
        tags=tags,
        opts=opts,
    )
