"""The AWS Load Balancer Controller: makes, changes and deletes Traefik's NLB
(`ingress.loadBalancerController.enabled`), instead of the in-tree cloud provider EKS keeps on
critical fixes only.

What it serves is narrowed to what the platform asks of it, so it adds no way out of the cluster
and no webhook that can block other charts while it is down:
- it watches only the ingress namespace: a team's Ingress annotated `kubernetes.io/ingress.class:
  alb` or Service of its class gets no AWS load balancer (teams could write the former);
- no `alb` IngressClass, no IngressClassParams and no Ingress validation webhook: it serves no
  Ingress, and that webhook (failurePolicy Fail) would reject every Ingress in the cluster,
  cert-manager's HTTP-01 solvers included, whenever the controller is down;
- no Service mutator webhook: with failurePolicy Fail it rejects every new Service of every chart
  while the controller is down, and with Ignore a Service made then would silently get an in-tree
  load balancer instead. Traefik's Service names `spec.loadBalancerClass` itself, and the gate's
  `load-balancer-service-has-class` rule refuses a LoadBalancer Service without a class.
The pod webhook that adds readiness gates keeps the chart's failurePolicy Ignore: a pod created
while the controller is down starts without the gate instead of not starting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.charts import pinned_release
from components.config.services import LoadBalancerControllerConfig
from components.hardening import (RESTRICTED_CONTAINER_SECURITY_CONTEXT, RESTRICTED_POD_SECURITY_CONTEXT,
                                  spread_constraints)
from components.load_balancer_controller_iam import controller_policy
from components.names import INGRESS_NAMESPACE
from components.names import LOAD_BALANCER_CONTROLLER_NAMESPACE as NAMESPACE
from components.namespaces import labelled_namespace
from components.platform import PlatformContext
from components.workload_identity import WorkloadRole, WorkloadRoleArgs

RELEASE = "aws-load-balancer-controller"
SERVICE_ACCOUNT = "aws-load-balancer-controller"
# The chart's selector label (its chart name).
POD_LABELS = {"app.kubernetes.io/name": "aws-load-balancer-controller"}


def controller_values(cluster_name: str, region: str, vpc_id: pulumi.Input[str], replicas: int,
                      high_availability: bool, tags: dict[str, str],
                      service_account_annotations: dict[str, pulumi.Input[str]]) -> dict[str, Any]:
    return {
        "clusterName": cluster_name,
        # Pods cannot reach the instance metadata service (IMDSv2 with hop limit 1 on every node),
        # which is where the controller would otherwise look up its region and VPC.
        "region": region,
        "vpcId": vpc_id,
        # One replica leads, the other stands by and answers the webhooks.
        "replicaCount": replicas,
        # The chart makes the budget only when replicaCount > 1.
        "podDisruptionBudget": {"maxUnavailable": 1} if replicas > 1 else {},
        "topologySpreadConstraints": spread_constraints(POD_LABELS, high_availability),
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
        # The image's user is distroless "nonroot" (65532), made numeric for the kubelet.
        "podSecurityContext": RESTRICTED_POD_SECURITY_CONTEXT,
        "securityContext": RESTRICTED_CONTAINER_SECURITY_CONTEXT,
        "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT, "annotations": service_account_annotations},
        # On every NLB, target group, listener and security group it makes, so they are found and billed.
        "defaultTags": tags,
        "watchNamespace": INGRESS_NAMESPACE,
        "enableServiceMutatorWebhook": False,
        "webhookConfig": {"disableIngressValidation": True},
        "createIngressClassResource": False,
        "ingressClassParams": {"create": False},
        # The chart makes its webhook certificate at render time: reuse it on upgrade instead of
        # rolling a new CA into the webhook configurations each time.
        "keepTLSSecret": True,
        "serviceMonitor": {"enabled": True},
    }


@dataclass
class LoadBalancerControllerArgs:
    context: PlatformContext
    """Its monitoring_crds: the chart creates a ServiceMonitor."""
    vpc_id: pulumi.Input[str]
    """The VPC whose subnets and security groups the controller uses."""
    config: LoadBalancerControllerConfig


class LoadBalancerController(pulumi.ComponentResource):
    release: k8s.helm.v3.Release
    """What a LoadBalancer Service of its class depends on: created after it, deleted before it."""

    def __init__(self, name: str, args: LoadBalancerControllerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        context = args.context
        super().__init__("eks-platform:traffic:LoadBalancerController", name, None, context.layer_options(opts))
        in_cluster = pulumi.ResourceOptions(parent=self, provider=context.provider)
        namespace = labelled_namespace(f"{name}-namespace", NAMESPACE, "restricted", context.kubernetes_version,
                                       in_cluster)
        role = WorkloadRole(f"{name}-role", WorkloadRoleArgs(
            identity=context.identity, namespace=NAMESPACE, service_account=SERVICE_ACCOUNT,
            kind=context.workload_identity, inline_policy=controller_policy(context.partition), tags=context.tags,
        ), opts=pulumi.ResourceOptions(parent=self))
        values = controller_values(context.cluster_name, context.region, args.vpc_id, args.config.replicas,
                                   context.high_availability, context.tags, role.service_account_annotations)
        # It waits for its role (and any Pod Identity association): without credentials it cannot
        # make the NLB of the Service that waits for it.
        self.release = pinned_release(
            f"{name}-chart", "aws-load-balancer-controller", namespace.metadata.name, values,
            pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(
                depends_on=[namespace, role, *context.monitoring_crds])),
            release_name=RELEASE,
        )
        self.register_outputs({"roleArn": role.arn})
