"""Fixtures the rule tests share: a compliant container and pod, every workload kind wrapping a
pod spec, and the rules a subject violates. Test modules import these, never each other."""

from __future__ import annotations

import copy

from preflight.check import Subject, evaluate

ENFORCE_ALL = {"all": "mandatory"}

GOOD_CONTAINER = {
    "name": "app", "image": "registry.example.com:5000/shop/app:1.2.3",
    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
    "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]}},
    "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
    "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
}
GOOD_POD = {"securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [GOOD_CONTAINER]}

WORKLOADS = {
    "kubernetes:core/v1:Pod": lambda spec: {"metadata": {"name": "p", "namespace": "shop"}, "spec": spec},
    "kubernetes:apps/v1:Deployment": lambda spec: {"metadata": {"name": "d", "namespace": "shop"},
                                                   "spec": {"template": {"spec": spec}}},
    "kubernetes:apps/v1:StatefulSet": lambda spec: {"metadata": {"name": "s", "namespace": "shop"},
                                                    "spec": {"template": {"spec": spec}}},
    "kubernetes:apps/v1:DaemonSet": lambda spec: {"metadata": {"name": "ds", "namespace": "shop"},
                                                  "spec": {"template": {"spec": spec}}},
    "kubernetes:apps/v1:ReplicaSet": lambda spec: {"metadata": {"name": "rs", "namespace": "shop"},
                                                   "spec": {"template": {"spec": spec}}},
    "kubernetes:batch/v1:Job": lambda spec: {"metadata": {"name": "j", "namespace": "shop"},
                                             "spec": {"template": {"spec": spec}}},
    "kubernetes:batch/v1:CronJob": lambda spec: {"metadata": {"name": "cj", "namespace": "shop"},
                                                 "spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}}},
}


def violations(resource_type, props, config=ENFORCE_ALL):
    return {v.policy for v in evaluate([Subject(resource_type, "r", "urn:r", props)], config)}


def pod(mutate=None, container_mutate=None, init=False):
    spec = copy.deepcopy(GOOD_POD)
    target = copy.deepcopy(GOOD_CONTAINER)
    if container_mutate:
        container_mutate(target)
    if init:
        spec["initContainers"] = [dict(target, name="init")]
    else:
        spec["containers"] = [target]
    if mutate:
        mutate(spec)
    return spec
