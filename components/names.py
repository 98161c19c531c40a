"""Names more than one layer agrees on: namespaces, storage classes, the labels other layers
select on, annotation keys and the ingress class.

A leaf: it imports nothing from components, so a layer that needs another layer's name (a
NetworkPolicy admitting Traefik, a volume on the retained storage class) imports this module
and never the other layer.
"""

from __future__ import annotations

# Namespaces the platform creates (and kube-system, which EKS does).
KUBE_SYSTEM_NAMESPACE = "kube-system"
INGRESS_NAMESPACE = "ingress"
CERT_MANAGER_NAMESPACE = "cert-manager"
MONITORING_NAMESPACE = "monitoring"
# node-exporter reads the host (hostNetwork, hostPID, hostPath): it gets a namespace of its
# own so that `monitoring` can enforce the baseline standard for everything else.
NODE_EXPORTER_NAMESPACE = "node-exporter"
LOGGING_NAMESPACE = "logging"
ELASTIC_OPERATOR_NAMESPACE = "elastic-system"
LOAD_BALANCER_CONTROLLER_NAMESPACE = "aws-load-balancer-controller"

# StorageClasses the add-ons layer creates: the default deletes its volumes, the other keeps them.
DEFAULT_STORAGE_CLASS = "gp3"
RETAIN_STORAGE_CLASS = "gp3-retain"

INGRESS_CLASS = "traefik"

# The AWS Load Balancer Controller serves LoadBalancer Services of this class (its default
# --load-balancer-class); the in-tree cloud provider leaves any Service with a class alone.
NLB_LOAD_BALANCER_CLASS = "service.k8s.aws/nlb"
# On a namespace: the controller's pod webhook gives new pods behind its ip-target NLBs a
# readiness gate that turns true once the NLB reports them healthy (docs/deploy/pod_readiness_gate.md).
POD_READINESS_GATE_LABEL = "elbv2.k8s.aws/pod-readiness-gate-inject"
# The Gateway API: the platform's GatewayClass (Traefik's controller) and its one shared Gateway,
# in INGRESS_NAMESPACE. HTTPRoutes name the Gateway and, as sectionName, their host's listener.
GATEWAY_API_VERSION = "gateway.networking.k8s.io/v1"
GATEWAY_CLASS = "traefik"
GATEWAY_CONTROLLER = "traefik.io/gateway-controller"
GATEWAY_NAME = "platform"
# Traefik binds a Gateway listener to the entryPoint listening on the listener's port inside the
# pod: the chart's websecure entryPoint is 8443 (the Service maps 443 to it), never 443 itself.
TRAEFIK_WEBSECURE_PORT = 8443

# Label keys.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace
TEAM_LABEL = "eks-platform/team"

# Pod labels other namespaces' NetworkPolicies admit.
# The traefik chart's selector labels: app.kubernetes.io/name is the chart name.
TRAEFIK_POD_LABELS = {"app.kubernetes.io/name": "traefik"}
# The prometheus-operator's label on every Prometheus pod (one of its fixed selector labels;
# only Prometheus carries it in the monitoring namespace).
PROMETHEUS_POD_LABELS = {"app.kubernetes.io/name": "prometheus"}
# cert-manager's HTTP-01 solver pod, created in the Ingress's namespace: its fixed label and
# listen port (pkg/issuer/acme/http).
ACME_SOLVER_POD_LABELS = {"acme.cert-manager.io/http01-solver": "true"}
ACME_SOLVER_PORT = 8089
KUBE_DNS_POD_LABELS = {"k8s-app": "kube-dns"}

# An app's headless Service (per-pod DNS names) is `<app>-headless`.
HEADLESS_SUFFIX = "-headless"

# Annotation keys on every published Ingress.
ISSUER_ANNOTATION = "cert-manager.io/cluster-issuer"
# Serve the router on the TLS entry point only; port 80 answers with a redirect to HTTPS.
ENTRYPOINTS_ANNOTATION = "traefik.ingress.kubernetes.io/router.entrypoints"

# AWS-managed policies every node role carries, whoever launches the node (node groups, Karpenter).
# No AmazonEKS_CNI_Policy: aws-node has its own role (Pod Identity or IRSA) (components/cluster.py), so pods on a
# node cannot use the node's credentials to manage network interfaces. PullOnly, not ReadOnly:
# nodes pull images and never need to list or describe repositories.
NODE_MANAGED_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryPullOnly",
    "AmazonSSMManagedInstanceCore",  # shell access through SSM instead of SSH keys
)
