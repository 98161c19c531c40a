"""The one way the platform publishes an HTTP service: a TLS Ingress through Traefik.

Apps, Grafana and Kibana all go through here, so every published host gets a cert-manager
certificate and is served on the HTTPS entry point only.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.names import ENTRYPOINTS_ANNOTATION, INGRESS_CLASS, ISSUER_ANNOTATION



def tls_secret_name(service_name: str) -> str:
    return f"{service_name}-tls"


def tls_ingress(resource_name: str, *, name: str, namespace: pulumi.Input[str], host: str, service_name: str,
                service_port: int, issuer: str, labels: dict[str, str],
                opts: pulumi.ResourceOptions) -> k8s.networking.v1.Ingress:
    return k8s.networking.v1.Ingress(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=name, namespace=namespace, labels=labels,
            annotations={ISSUER_ANNOTATION: issuer, ENTRYPOINTS_ANNOTATION: "websecure"},
        ),
        spec=k8s.networking.v1.IngressSpecArgs(
            ingress_class_name=INGRESS_CLASS,
            tls=[k8s.networking.v1.IngressTLSArgs(hosts=[host], secret_name=tls_secret_name(name))],
            rules=[k8s.networking.v1.IngressRuleArgs(
                host=host,
                http=k8s.networking.v1.HTTPIngressRuleValueArgs(paths=[k8s.networking.v1.HTTPIngressPathArgs(
                    path="/", path_type="Prefix",
                    backend=k8s.networking.v1.IngressBackendArgs(service=k8s.networking.v1.IngressServiceBackendArgs(
                        name=service_name, port=k8s.networking.v1.ServiceBackendPortArgs(number=service_port),
                    )),
                )]),
            )],
        ),
        opts=opts,
    )
