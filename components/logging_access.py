"""Who may reach whom in the `logging` namespace, and as which Elasticsearch user.

Fluent Bit and the retention Job each log in as a file-realm user of their own (ECK reads
`kubernetes.io/basic-auth` Secrets listed in the Elasticsearch's `auth.fileRealm`, and roles
from `roles.yml` in Secrets listed in `auth.roles`), never as the `elastic` superuser. The
namespace denies all traffic but the flows below, each opened on both of its sides.
"""

from __future__ import annotations

from typing import Any

import yaml

from components.names import (
    ACME_SOLVER_POD_LABELS,
    ACME_SOLVER_PORT,
    INGRESS_NAMESPACE,
    KUBE_DNS_POD_LABELS,
    KUBE_SYSTEM_NAMESPACE,
    MONITORING_NAMESPACE,
    PROMETHEUS_POD_LABELS,
    TRAEFIK_POD_LABELS,
)
from components.peers import from_namespace, pods_in

SHIPPER_USER = "fluent-bit"
RETENTION_USER = "log-retention"
SHIPPER_ROLE = "log_shipper"
RETENTION_ROLE = "log_retention"
ES_HTTP_PORT = 9200
ES_TRANSPORT_PORT = 9300
KIBANA_PORT = 5601
FLUENT_BIT_METRICS_PORT = 2020
API_SERVER_PORT = 443
# The fluent-bit chart's selector labels (release fluent-bit).
FLUENT_BIT_POD_LABELS = {"app.kubernetes.io/name": "fluent-bit", "app.kubernetes.io/instance": "fluent-bit"}


def user_secret_name(user: str) -> str:
    return f"es-user-{user}"


def es_roles(index_prefix: str) -> dict[str, Any]:
    indices = [f"{index_prefix}-*"]
    return {
        # Bulk `create` into the daily indices, creating each day's index: nothing to read.
        SHIPPER_ROLE: {"cluster": [], "indices": [{"names": indices, "privileges": ["create_index", "create_doc"]}]},
        # Writes the lifecycle policy and index template; ILM then acts as the user who last
        # wrote the policy, so this role must also be able to delete the indices it retires.
        RETENTION_ROLE: {"cluster": ["monitor", "manage_ilm", "manage_index_templates"],
                         "indices": [{"names": indices, "privileges": ["manage", "delete_index"]}]},
    }


def roles_yaml(index_prefix: str) -> str:
    return yaml.safe_dump(es_roles(index_prefix), sort_keys=True)


USER_ROLES = {SHIPPER_USER: SHIPPER_ROLE, RETENTION_USER: RETENTION_ROLE}


def _pods(labels: dict[str, str]) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": labels}}


def _tcp(port: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port}]


def network_policies(*, es_labels: dict[str, str], kibana_labels: dict[str, str],
                     retention_labels: dict[str, str], operator_namespace: str,
                     vpc_cidr: str) -> dict[str, dict[str, Any]]:
    """name -> NetworkPolicy spec for the logging namespace."""
    es, kibana, shipper, retention = (_pods(labels) for labels in (
        es_labels, kibana_labels, FLUENT_BIT_POD_LABELS, retention_labels))
    to_es = {"to": [es], "ports": _tcp(ES_HTTP_PORT)}
    return {
        "default-deny": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        "allow-dns": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
            "to": [pods_in(KUBE_SYSTEM_NAMESPACE, KUBE_DNS_POD_LABELS)],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]},
        "elasticsearch": {**es, "policyTypes": ["Ingress", "Egress"], "ingress": [
            # The operator's namespace holds the operator alone; its pod labels differ between
            # the Helm chart and ECK's all-in-one manifests (global.manifestGen).
            {"from": [shipper, retention, kibana, from_namespace(operator_namespace)],
             "ports": _tcp(ES_HTTP_PORT)},
            {"from": [es], "ports": _tcp(ES_TRANSPORT_PORT)},
        ], "egress": [{"to": [es], "ports": _tcp(ES_TRANSPORT_PORT)}]},
        "kibana": {**kibana, "policyTypes": ["Ingress", "Egress"], "ingress": [
            {"from": [pods_in(INGRESS_NAMESPACE, TRAEFIK_POD_LABELS)], "ports": _tcp(KIBANA_PORT)},
        ], "egress": [to_es]},
        "fluent-bit": {**shipper, "policyTypes": ["Ingress", "Egress"], "ingress": [
            {"from": [pods_in(MONITORING_NAMESPACE, PROMETHEUS_POD_LABELS)],
             "ports": _tcp(FLUENT_BIT_METRICS_PORT)},
        ], "egress": [
            to_es,
            # The kubernetes filter asks the API server for pod metadata. EKS serves it from ENIs
            # in the cluster's subnets, which no pod or namespace selector matches.
            {"to": [{"ipBlock": {"cidr": vpc_cidr}}], "ports": _tcp(API_SERVER_PORT)},
        ]},
        "log-retention": {**retention, "policyTypes": ["Egress"], "egress": [to_es]},
        # Kibana's certificate: Let's Encrypt reaches the solver (a pod in the Ingress's
        # namespace) through Traefik.
        "acme-http01-solver": {**_pods(ACME_SOLVER_POD_LABELS), "policyTypes": ["Ingress"], "ingress": [
            {"from": [pods_in(INGRESS_NAMESPACE, TRAEFIK_POD_LABELS)], "ports": _tcp(ACME_SOLVER_PORT)},
        ]},
    }
