"""EFK: Elasticsearch and Kibana run by the ECK operator, Fluent Bit shipping container logs,
and an index lifecycle policy enforcing retention."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.charts import pinned_release
from components.config.base import quantity_value
from components.config.services import ElasticsearchConfig, LoggingConfig
from components.hardening import (
    RESTRICTED_CONTAINER_SECURITY_CONTEXT,
    RESTRICTED_POD_SECURITY_CONTEXT,
    spread_constraints,
)
from components.ilm import RETENTION_LABELS, ilm_job
from components.logging_access import (
    ES_HTTP_PORT,
    KIBANA_PORT,
    RETENTION_USER,
    SHIPPER_USER,
    USER_ROLES,
    network_policies,
    roles_yaml,
    user_secret_name,
)
from components.names import DEFAULT_STORAGE_CLASS, RETAIN_STORAGE_CLASS
from components.names import ELASTIC_OPERATOR_NAMESPACE as OPERATOR_NAMESPACE
from components.names import LOGGING_NAMESPACE as NAMESPACE
from components.namespaces import labelled_namespace
from components.platform import PlatformContext
from components.tls_ingress import tls_ingress

ELASTICSEARCH = "logs"
KIBANA = "logs"
INDEX_PREFIX = "k8s-logs"
# Secrets ECK creates for an Elasticsearch named ELASTICSEARCH (ECK's naming convention).
HTTP_CA_SECRET = f"{ELASTICSEARCH}-es-http-certs-public"
ES_SERVICE = f"{ELASTICSEARCH}-es-http"
KIBANA_SERVICE = f"{KIBANA}-kb-http"
# The labels ECK puts on the pods it runs.
ES_POD_LABELS = {"elasticsearch.k8s.elastic.co/cluster-name": ELASTICSEARCH}
KIBANA_POD_LABELS = {"kibana.k8s.elastic.co/name": KIBANA}
ROLES_SECRET = "es-roles"


def heap_option(heap: str) -> str:
    megabytes = int(quantity_value(heap) // 2**20)
    return f"-Xms{megabytes}m -Xmx{megabytes}m"


def elasticsearch_spec(config: ElasticsearchConfig, high_availability: bool) -> dict[str, Any]:
    return {
        "version": config.version,
        # Least-privilege users for Fluent Bit and the retention Job (logging_access.py).
        "auth": {"fileRealm": [{"secretName": user_secret_name(user)} for user in USER_ROLES],
                 "roles": [{"secretName": ROLES_SECRET}]},
        # Retain keeps the EBS volumes if the claims go; ECK keeps the claims unless scaled down.
        "volumeClaimDeletePolicy": "DeleteOnScaledownOnly" if config.retain_volumes
        else "DeleteOnScaledownAndClusterDeletion",
        "nodeSets": [{
            "name": "default",
            "count": config.nodes,
            # No mmap: no privileged init container raising vm.max_map_count on the node. No
            # GeoIP database downloads: the namespace's egress is closed to the internet.
            "config": {"node.store.allow_mmap": False, "ingest.geoip.downloader.enabled": False},
            "podTemplate": {"spec": {
                "containers": [{
                    "name": "elasticsearch",
                    "resources": config.resources.as_kubernetes(),
                    "env": [{"name": "ES_JAVA_OPTS", "value": heap_option(config.heap)}],
                }],
                "topologySpreadConstraints": spread_constraints(ES_POD_LABELS, high_availability),
            }},
            "volumeClaimTemplates": [{
                "metadata": {"name": "elasticsearch-data"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": RETAIN_STORAGE_CLASS if config.retain_volumes else DEFAULT_STORAGE_CLASS,
                    "resources": {"requests": {"storage": f"{config.storage_gi}Gi"}},
                },
            }],
        }],
    }


def kibana_spec(config: ElasticsearchConfig, replicas: int) -> dict[str, Any]:
    return {
        "version": config.version,
        "count": replicas,
        "elasticsearchRef": {"name": ELASTICSEARCH},
        # TLS ends at Traefik with a Let's Encrypt certificate; the hop inside the cluster is
        # limited to the ingress controller by the namespace's NetworkPolicy.
        "http": {"tls": {"selfSignedCertificate": {"disabled": True}}},
        "podTemplate": {"spec": {"containers": [{
            "name": "kibana",
            "resources": {"requests": {"cpu": "200m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        }]}},
    }


FLUENT_BIT_OUTPUT = f"""[OUTPUT]
    Name es
    Match kube.*
    Host {ES_SERVICE}.{NAMESPACE}.svc
    Port {ES_HTTP_PORT}
    HTTP_User {SHIPPER_USER}
    HTTP_Passwd ${{ES_PASSWORD}}
    Write_Operation create
    tls On
    tls.verify On
    tls.ca_file /es-ca/ca.crt
    Logstash_Format On
    Logstash_Prefix {INDEX_PREFIX}
    Suppress_Type_Name On
    Replace_Dots On
    Retry_Limit False
"""

FLUENT_BIT_INPUT = """[INPUT]
    Name tail
    Path /var/log/containers/*.log
    multiline.parser docker, cri
    Tag kube.*
    DB /fluent-bit/state/tail.db
    Mem_Buf_Limit 5MB
    Skip_Long_Lines On
"""


def fluent_bit_values() -> dict[str, Any]:
    log_dirs = ("/var/log/containers", "/var/log/pods")
    return {
        "kind": "DaemonSet",
        "config": {"inputs": FLUENT_BIT_INPUT, "outputs": FLUENT_BIT_OUTPUT},
        # Its own user's generated password, read from the Secret at start: never in values.
        "env": [{"name": "ES_PASSWORD", "valueFrom": {"secretKeyRef": {"name": user_secret_name(SHIPPER_USER),
                                                                        "key": "password"}}}],
        # Only the two log directories (the /var/log/containers links point into /var/log/pods),
        # both read-only; the chart's default mounts all of /var/log writable.
        "daemonSetVolumes": [{"name": f"host{d.replace('/', '-')}", "hostPath": {"path": d, "type": "Directory"}}
                             for d in log_dirs],
        "daemonSetVolumeMounts": [{"name": f"host{d.replace('/', '-')}", "mountPath": d, "readOnly": True}
                                  for d in log_dirs],
        "extraVolumes": [{"name": "es-ca", "secret": {"secretName": HTTP_CA_SECRET}},
                         {"name": "state", "emptyDir": {}}],
        "extraVolumeMounts": [{"name": "es-ca", "mountPath": "/es-ca", "readOnly": True},
                              {"name": "state", "mountPath": "/fluent-bit/state"}],
        # Root is needed to read the kubelet's root-owned log files; nothing else is granted.
        "podSecurityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "securityContext": {"runAsUser": 0, "runAsNonRoot": False, "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        "serviceMonitor": {"enabled": True},
        "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}],
    }


@dataclass
class LoggingArgs:
    context: PlatformContext
    """Its vpc_cidr is Fluent Bit's only way out besides Elasticsearch; Kibana's Ingress waits for
    its ingress_controller."""
    config: LoggingConfig


class Logging(pulumi.ComponentResource):
    def __init__(self, name: str, args: LoggingArgs, opts: Optional[pulumi.ResourceOptions] = None):
        context = args.context
        super().__init__("eks-platform:observability:Logging", name, None, context.layer_options(opts))
        in_cluster = pulumi.ResourceOptions(parent=self, provider=context.provider)
        operator_namespace = labelled_namespace(f"{name}-operator-namespace", OPERATOR_NAMESPACE, "restricted",
                                                context.kubernetes_version, in_cluster)
        # Fluent Bit must sit beside Elasticsearch to read the Secrets ECK makes, and it mounts
        # host log directories, which no Pod Security level short of privileged allows.
        namespace = labelled_namespace(f"{name}-namespace", NAMESPACE, "privileged", context.kubernetes_version,
                                       in_cluster, warn="baseline")
        in_namespace = pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=[namespace]))
        for policy_name, spec in network_policies(
                es_labels=ES_POD_LABELS, kibana_labels=KIBANA_POD_LABELS, retention_labels=RETENTION_LABELS,
                operator_namespace=OPERATOR_NAMESPACE, vpc_cidr=context.vpc_cidr).items():
            k8s.networking.v1.NetworkPolicy(
                f"{name}-netpol-{policy_name}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=policy_name, namespace=NAMESPACE), spec=spec,
                opts=in_namespace)
        user_secrets = {user: self._user_secret(name, user, role, in_namespace) for user, role in USER_ROLES.items()}
        roles_secret = k8s.core.v1.Secret(
            f"{name}-es-roles", metadata=k8s.meta.v1.ObjectMetaArgs(name=ROLES_SECRET, namespace=NAMESPACE),
            type="Opaque", string_data={"roles.yml": roles_yaml(INDEX_PREFIX)}, opts=in_namespace)
        operator = pinned_release(f"{name}-eck-operator", "eck-operator", OPERATOR_NAMESPACE, {
            "installCRDs": True,
            "replicaCount": args.config.operator_replicas,
            "podSecurityContext": RESTRICTED_POD_SECURITY_CONTEXT,
            "securityContext": RESTRICTED_CONTAINER_SECURITY_CONTEXT,
            "resources": {"requests": {"cpu": "100m", "memory": "150Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        }, pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=[operator_namespace])))

        # Elasticsearch and Kibana kinds exist once the operator chart has installed its CRDs.
        after_operator = pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(
            depends_on=[operator, namespace]))
        config = args.config.elasticsearch
        elasticsearch = k8s.apiextensions.CustomResource(
            f"{name}-elasticsearch", api_version="elasticsearch.k8s.elastic.co/v1", kind="Elasticsearch",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ELASTICSEARCH, namespace=NAMESPACE),
            spec=elasticsearch_spec(config, context.high_availability),
            opts=pulumi.ResourceOptions.merge(after_operator, pulumi.ResourceOptions(
                depends_on=[*user_secrets.values(), roles_secret])),
        )
        kibana = k8s.apiextensions.CustomResource(
            f"{name}-kibana", api_version="kibana.k8s.elastic.co/v1", kind="Kibana",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=KIBANA, namespace=NAMESPACE),
            spec=kibana_spec(config, args.config.kibana_replicas),
            opts=pulumi.ResourceOptions.merge(after_operator, pulumi.ResourceOptions(depends_on=[elasticsearch])),
        )
        after_elasticsearch = pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(
            depends_on=[elasticsearch]))
        retention = ilm_job(f"{name}-retention", namespace=NAMESPACE, es_url=f"https://{ES_SERVICE}:{ES_HTTP_PORT}",
                            user=RETENTION_USER, user_secret=user_secret_name(RETENTION_USER),
                            ca_secret=HTTP_CA_SECRET, index_prefix=INDEX_PREFIX,
                            retention_days=args.config.retention_days, opts=after_elasticsearch)
        # After the retention Job, so the first log index already gets the lifecycle policy.
        pinned_release(f"{name}-fluent-bit", "fluent-bit", NAMESPACE, fluent_bit_values(),
                       pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(
                           depends_on=[elasticsearch, retention, user_secrets[SHIPPER_USER],
                                       *context.monitoring_crds])))
        if args.config.kibana_host:
            tls_ingress(f"{name}-kibana-ingress", name="kibana", namespace=NAMESPACE, host=args.config.kibana_host,
                        service_name=KIBANA_SERVICE, service_port=KIBANA_PORT, issuer=context.default_issuer,
                        labels={"app.kubernetes.io/name": "kibana"},
                        opts=pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(
                            depends_on=[kibana, *context.ingress_controller])))
        self.register_outputs({"elasticsearchService": f"{ES_SERVICE}.{NAMESPACE}.svc"})

    def _user_secret(self, name: str, user: str, role: str, opts: pulumi.ResourceOptions) -> k8s.core.v1.Secret:
        """A file-realm user ECK adds to Elasticsearch (it hashes the password itself)."""
        password = random.RandomPassword(f"{name}-{user}-password", length=32, special=False,
                                         opts=pulumi.ResourceOptions(parent=self))
        return k8s.core.v1.Secret(
            f"{name}-{user}-user",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=user_secret_name(user), namespace=NAMESPACE),
            type="kubernetes.io/basic-auth",
            string_data={"username": user, "password": pulumi.Output.secret(password.result), "roles": role},
            opts=opts,
        )
