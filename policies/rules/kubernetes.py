"""Kubernetes rules: Pod Security Standards (first controls), workload practice, exposure, RBAC.
The Restricted controls and the rest of Baseline live in pod_security.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pulumi_policy import Severity

from .base import containers, get, kind_of, object_namespace, pod_rule, resource_rule
from .image_reference import image_pin_problem

HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")


@pod_rule("pss-host-namespaces", "Pods do not share the node's network, PID or IPC namespace (PSS Baseline).",
          Severity.HIGH, "Remove hostNetwork, hostPID and hostIPC (or set them false).", exemptible=True)
def host_namespaces(spec, metadata):
    for field in HOST_NAMESPACES:
        if spec.get(field) is True:
            yield f"The pod sets {field}: true."


@pod_rule("pss-privileged", "No container runs privileged (PSS Baseline).", Severity.CRITICAL,
          "Remove securityContext.privileged or set it false.")
def privileged(spec, metadata):
    for label, container in containers(spec):
        if get(container, "securityContext", "privileged") is True:
            yield f"{label} is privileged."


@pod_rule("pss-host-path-volumes", "Pods mount no hostPath volumes (PSS Baseline).", Severity.HIGH,
          "Use emptyDir, a PVC or a projected volume; exempt a platform DaemonSet by namespace if it must.",
          exemptible=True)
def host_path(spec, metadata):
    for volume in spec.get("volumes") or []:
        if isinstance(volume, Mapping) and volume.get("hostPath") is not None:
            yield f"Volume {volume.get('name', '?')} is a hostPath ({get(volume, 'hostPath', 'path')})."


@pod_rule("image-pinned", "Images are pinned to a version tag or digest, never ':latest' or untagged.",
          Severity.MEDIUM, "Use image:1.2.3 or image@sha256:...")
def image_pinned(spec, metadata):
    for label, container in containers(spec):
        problem = image_pin_problem(str(container.get("image", "")))
        if problem:
            yield f"{label} image {container.get('image')!r} {problem}."


@pod_rule("resources-required", "Every container sets CPU and memory requests and limits.", Severity.MEDIUM,
          "Set resources.requests and resources.limits for cpu and memory.")
def resources_required(spec, metadata):
    for label, container in containers(spec):
        if label.startswith("ephemeralContainers"):
            continue  # ephemeral containers cannot have resources
        for section in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if get(container, "resources", section, resource) in (None, ""):
                    yield f"{label} has no {section}.{resource}."


@pod_rule("read-only-root-filesystem", "Every container's root filesystem is read-only.", Severity.MEDIUM,
          "Set securityContext.readOnlyRootFilesystem: true; mount an emptyDir where the app writes.",
          exemptible=True, linux_only=True)
def read_only_root(spec, metadata):
    for label, container in containers(spec):
        if get(container, "securityContext", "readOnlyRootFilesystem") is not True:
            yield f"{label} has a writable root filesystem."


@resource_rule("no-external-services", "Services are neither LoadBalancer nor NodePort and set no externalIPs.",
               Severity.HIGH, "Use a ClusterIP Service behind the ingress controller.", exemptible=True)
def no_external_services(args, report_violation):
    if kind_of(args.resource_type) != "Service":
        return
    service_type = get(args.props, "spec", "type")
    if service_type in ("LoadBalancer", "NodePort"):
        report_violation(f"Service type {service_type} exposes pods outside the cluster.")
    if get(args.props, "spec", "externalIPs"):
        report_violation("The Service sets externalIPs.")


@resource_rule("ingress-tls", "Every Ingress host is served over TLS.", Severity.HIGH,
               "Add a tls entry listing every host, with a cert-manager issuer annotation.")
def ingress_tls(args, report_violation):
    if kind_of(args.resource_type) != "Ingress":
        return
    hosts = {rule.get("host") for rule in get(args.props, "spec", "rules") or [] if isinstance(rule, Mapping)}
    covered = {h for entry in get(args.props, "spec", "tls") or [] for h in (entry.get("hosts") or [])}
    missing = sorted(h for h in hosts - covered if h)
    if missing:
        report_violation(f"Hosts without TLS: {', '.join(missing)}.")


@resource_rule("rbac-no-wildcards", "Roles grant no wildcard verbs or resources.", Severity.HIGH,
               "List the verbs and resources the subject needs.", exemptible=True)
def rbac_no_wildcards(args, report_violation):
    if kind_of(args.resource_type) not in ("Role", "ClusterRole"):
        return
    for rule in args.props.get("rules") or []:
        if "*" in (rule.get("verbs") or []) or "*" in (rule.get("resources") or []):
            report_violation(f"A rule grants '*' (verbs {list(rule.get('verbs') or [])}, "
                             f"resources {list(rule.get('resources') or [])}).")


@resource_rule("rbac-no-cluster-admin-binding", "Nothing is bound to the cluster-admin ClusterRole.", Severity.CRITICAL,
               "Bind a namespace-scoped Role instead; cluster admins come through EKS access entries.")
def rbac_no_cluster_admin(args, report_violation):
    if kind_of(args.resource_type) in ("ClusterRoleBinding", "RoleBinding") and \
            get(args.props, "roleRef", "name") == "cluster-admin":
        report_violation("The binding grants cluster-admin.")


@resource_rule("no-default-namespace", "Nothing is created in the default namespace.", Severity.LOW,
               "Put the object in its team's namespace.")
def no_default_namespace(args, report_violation):
    kind = kind_of(args.resource_type)
    if kind is None or args.resource_type.startswith(("kubernetes:helm.sh/", "pulumi:")):
        return
    if object_namespace(args.resource_type, args.props) == "default":
        report_violation(f"{kind} is in the default namespace.")


@resource_rule("namespace-not-privileged", "No Namespace sets Pod Security enforce: privileged.", Severity.HIGH,
               "Enforce restricted (or baseline); exempt a platform namespace by name if it must run host agents.",
               exemptible=True)
def namespace_not_privileged(args, report_violation):
    if kind_of(args.resource_type) != "Namespace":
        return
    if (get(args.props, "metadata", "labels") or {}).get("pod-security.kubernetes.io/enforce") == "privileged":
        report_violation("The namespace enforces the privileged Pod Security level (no restriction at all).")
