"""Namespaces the platform creates, each labelled for Pod Security admission.

Every namespace is created as an object (never by a chart's create_namespace) so its Pod
Security labels are part of the plan, reviewed and policy-checked like everything else.
"""

from __future__ import annotations

from typing import Literal

import pulumi
import pulumi_kubernetes as k8s

PodSecurityLevel = Literal["restricted", "baseline", "privileged"]
PSS_LABEL = "pod-security.kubernetes.io"


def pss_version(kubernetes_version: str) -> str:
    """Pin the standard to the cluster's minor, so an upgrade never tightens it unannounced."""
    return f"v{kubernetes_version}"


def pod_security_labels(enforce: PodSecurityLevel, kubernetes_version: str,
                        warn: PodSecurityLevel | None = None) -> dict[str, str]:
    # audit and warn report against the strictest level that still makes sense, so a
    # namespace that must enforce less still shows what it would break.
    warn = warn or enforce
    version = pss_version(kubernetes_version)
    return {
        f"{PSS_LABEL}/enforce": enforce, f"{PSS_LABEL}/enforce-version": version,
        f"{PSS_LABEL}/audit": warn, f"{PSS_LABEL}/audit-version": version,
        f"{PSS_LABEL}/warn": warn, f"{PSS_LABEL}/warn-version": version,
    }


def labelled_namespace(resource_name: str, name: str, enforce: PodSecurityLevel, kubernetes_version: str,
                       opts: pulumi.ResourceOptions, *, warn: PodSecurityLevel | None = None,
                       labels: dict[str, str] | None = None) -> k8s.core.v1.Namespace:
    return k8s.core.v1.Namespace(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=name,
            labels={**(labels or {}), **pod_security_labels(enforce, kubernetes_version, warn)},
        ),
        opts=opts,
    )
