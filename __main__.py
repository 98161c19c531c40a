"""eks-platform: one stack per environment. Each line below is one layer of the platform."""

from dataclasses import replace

import pulumi
import pulumi_aws as aws

from components.addons import ClusterAddons, ClusterAddonsArgs
from components.autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs
from components.cert_manager import CertManager, CertManagerArgs
from components.cluster import Cluster, ClusterArgs
from components.config import StackConfigError, load_from_pulumi
from components.gateway import Gateway, GatewayArgs, gateway_hosts
from components.naming import cluster_name, common_tags
from components.external_dns import ExternalDns, ExternalDnsArgs
from components.ingress_controller import IngressController, IngressControllerArgs
from components.karpenter import Karpenter, KarpenterArgs
from components.load_balancer_controller import LoadBalancerController, LoadBalancerControllerArgs
from components.logging import Logging, LoggingArgs
from components.monitoring import GrafanaIngress, GrafanaIngressArgs, Monitoring, MonitoringArgs
from components.network import Network, NetworkArgs
from components.node_groups import NodeGroups, NodeGroupsArgs
from components.platform import PlatformContext
from components.team import Team, TeamArgs, namespaces_admitting
from components.workload_identity import ClusterIdentity, cluster_arn, pod_identity_agent

# 1. Stack config: validated before any resource exists; a bad key stops here with every
#    problem listed (RunError: Pulumi prints the message without a traceback).
try:
    config = load_from_pulumi()
except StackConfigError as err:
    raise pulumi.RunError(str(err)) from None

name = cluster_name(config)
tags = common_tags(config)
partition = aws.get_partition().partition
account_id = aws.get_caller_identity().account_id
eks_cluster_arn = cluster_arn(partition, config.region, account_id, name)
zones = aws.get_availability_zones(state="available").names[: config.network.az_count]

# 2. Network and cluster.
network = Network("network", NetworkArgs(cluster_name=name, config=config.network, zones=zones, tags=tags))
cluster = Cluster("cluster", ClusterArgs(
    cluster_name=name, config=config.cluster, addons=config.addons, vpc_id=network.vpc_id,
    private_subnet_ids=network.private_subnet_ids, public_subnet_ids=network.public_subnet_ids,
    partition=partition, protect=config.cluster.protect, cluster_arn=eks_cluster_arn,
    workload_identity=config.workload_identity, tags=tags,
))
nodes = NodeGroups("nodes", NodeGroupsArgs(
    cluster=cluster.eks_cluster, vpc_cni=cluster.vpc_cni, cluster_name=name,
    kubernetes_version=config.cluster.kubernetes_version, groups=config.node_groups, zones=zones,
    subnet_ids=network.private_subnet_ids, partition=partition, tags=tags,
))
# EKS Pod Identity: the agent (a DaemonSet, so it needs no node yet) and what roles trust.
identity = ClusterIdentity(
    cluster=cluster.eks_cluster, cluster_name=name, cluster_arn=eks_cluster_arn,
    oidc_provider_arn=cluster.oidc_provider_arn, oidc_issuer=cluster.oidc_issuer,
    agent=pod_identity_agent("pod-identity-agent", cluster.eks_cluster, config.addons.pod_identity_agent, tags,
                             pulumi.ResourceOptions()),
)
# What every in-cluster layer shares (components/platform.py); each layer adds only its own config.
platform = PlatformContext(
    provider=cluster.provider, identity=identity, kubernetes_version=config.cluster.kubernetes_version,
    partition=partition, region=config.region, vpc_cidr=config.network.cidr, tags=tags,
    high_availability=config.high_availability, retain_volumes=config.retain_volumes,
    default_issuer=config.cert_manager.default_issuer, workload_identity=config.workload_identity,
)
addons = ClusterAddons("addons", ClusterAddonsArgs(
    context=platform, cluster=cluster.eks_cluster, node_groups=nodes.node_groups, versions=config.addons))
# Node capacity beyond the node groups: what every in-cluster layer below waits for.
capacity: list[pulumi.Resource] = []
if config.autoscaler.kind == "karpenter":
    karpenter = config.autoscaler.karpenter
    capacity.append(Karpenter("karpenter", KarpenterArgs(
        context=platform, config=karpenter, account_id=account_id,
        controller_group=next(g for g in config.node_groups if g.name == karpenter.controller_node_group),
        node_groups=nodes.node_groups, cluster_security_group_id=cluster.eks_cluster.cluster_security_group_id,
    )))
else:
    ClusterAutoscaler("autoscaler", ClusterAutoscalerArgs(
        context=platform, config=config.autoscaler, node_groups=nodes.node_groups))

# 3. Platform services. Monitoring comes first: it installs the ServiceMonitor and
#    PrometheusRule CRDs the other charts create objects of. Every in-cluster layer depends
#    on the nodes and add-ons, so `pulumi destroy` removes it (and the NLB and EBS volumes
#    its controllers clean up) while nodes, EBS CSI and the control plane still run.
platform = replace(platform, waits_for=(nodes, addons, identity.agent, *capacity))
monitoring = Monitoring("monitoring", MonitoringArgs(context=platform, config=config.monitoring))
platform = replace(platform, monitoring_crds=(monitoring.release,))
cert_manager = CertManager("cert-manager", CertManagerArgs(context=platform, config=config.cert_manager))
# Makes Traefik's NLB: Traefik waits for it, and `pulumi destroy` removes Traefik's Service before it.
load_balancers = LoadBalancerController("load-balancer-controller", LoadBalancerControllerArgs(
    context=platform, vpc_id=network.vpc_id, config=config.ingress.load_balancer_controller)).release if config.ingress.load_balancer_controller.enabled else None
ingress = IngressController("ingress", IngressControllerArgs(
    context=platform, config=config.ingress, load_balancer_controller=load_balancers))
platform = replace(platform, ingress_controller=(ingress.release,), gateway_api_crds=ingress.gateway_api_crds)
gateways = [Gateway("gateway", GatewayArgs(context=platform, hosts=gateway_hosts(config.teams),
                                           cert_manager=cert_manager))] if config.ingress.gateway.enabled else []
logging = Logging("logging", LoggingArgs(context=platform, config=config.logging))
# Grafana's Ingress waits for Traefik, whose chart waits for Monitoring's CRDs: so it is its own layer.
if config.monitoring.grafana_host:
    GrafanaIngress("grafana", GrafanaIngressArgs(
        context=platform, host=config.monitoring.grafana_host, grafana=monitoring.release))
if config.ingress.external_dns.enabled:
    ExternalDns("external-dns", ExternalDnsArgs(
        context=platform, config=config.ingress, hosts=[host for _, host in config.served_hosts]))

# 4. Tenancy: one isolated namespace per team, with its apps. After the ingress controller,
#    cert-manager and the shared Gateway, so a team's first Ingress or HTTPRoute is served and
#    certified on the first `pulumi up`.
platform = replace(platform, waits_for=(*platform.waits_for, ingress, cert_manager, *gateways))
for team in config.teams:
    Team(f"team-{team.name}", TeamArgs(
        context=platform, config=team, admitted_by=namespaces_admitting(team.name, config.teams)))

# Stack outputs (docs/runbook.md says what each is for).
pulumi.export("clusterName", name)
pulumi.export("kubeconfig", pulumi.Output.secret(cluster.kubeconfig_json))
pulumi.export("oidcProviderArn", cluster.oidc_provider_arn)
pulumi.export("vpcId", network.vpc_id)
pulumi.export("grafanaAdminPassword", monitoring.grafana_admin_password)
