"""Workloads: how a workload is built and run beyond Pod Security: pinned images, resources,
probes, secrets kept out of env literals, disruption budgets, and where objects are created."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pulumi_policy import Severity, StackValidationArgs

from .base import PLATFORM, cis_eks, pod_rule, resource_rule, stack_rule
from .helpers import containers, get, kind_of, namespace_of, object_namespace, of_kind, selects
from .image_reference import image_pin_problem

LONG_RUNNING = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController")
SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL|ACCESS_?KEY)", re.I)


@pod_rule("image-pinned", "Images are pinned to a version tag or digest, never ':latest' or untagged.",
          Severity.MEDIUM, "Use image:1.2.3 or image@sha256:...", frameworks=[PLATFORM])
def image_pinned(spec, metadata):
    for label, container in containers(spec):
        problem = image_pin_problem(str(container.get("image", "")))
        if problem:
            yield f"{label} image {container.get('image')!r} {problem}."


@pod_rule("resources-required", "Every container sets CPU and memory requests and limits.", Severity.MEDIUM,
          "Set resources.requests and resources.limits for cpu and memory.", frameworks=[PLATFORM])
def resources_required(spec, metadata):
    # Ephemeral containers cannot have resources.
    for label, container in containers(spec, lists=("containers", "initContainers")):
        for section in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if get(container, "resources", section, resource) in (None, ""):
                    yield f"{label} has no {section}.{resource}."


@pod_rule("probes-required", "Long-running workloads define liveness and readiness probes on every container.",
          Severity.MEDIUM, "Add livenessProbe and readinessProbe (and a startupProbe for slow starters).",
          frameworks=[PLATFORM], exemptible=True, kinds=LONG_RUNNING)
def probes_required(spec, metadata):
    # Init containers run to completion: probes do not apply to them.
    for label, container in containers(spec, lists=("containers",)):
        missing = [p for p in ("livenessProbe", "readinessProbe") if not container.get(p)]
        if missing:
            yield f"{label} has no {' or '.join(missing)}."


@pod_rule("no-secret-literals-in-env", "No secret-looking environment variable holds a literal value.",
          Severity.HIGH, "Put the value in a Secret and use valueFrom.secretKeyRef.", frameworks=[PLATFORM],
          exemptible=True)
def secret_literals(spec, metadata):
    for label, container in containers(spec):
        for entry in container.get("env") or []:
            if isinstance(entry, Mapping) and SECRET_NAME.search(str(entry.get("name", ""))) and entry.get("value"):
                yield f"{label} sets {entry.get('name')} to a literal value."


@resource_rule("no-default-namespace", "Nothing is created in the default namespace.", Severity.LOW,
               "Put the object in its team's namespace.", frameworks=[cis_eks("4.5.2")])
def no_default_namespace(args, report_violation):
    kind = kind_of(args.resource_type)
    # A Helm release, a yaml ConfigFile or a kustomization is a component: its objects carry their own namespaces.
    if kind is None or args.resource_type.startswith(("kubernetes:helm.sh/", "kubernetes:yaml/",
                                                      "kubernetes:kustomize/", "pulumi:")):
        return
    if object_namespace(args.resource_type, args.props) == "default":
        report_violation(f"{kind} is in the default namespace.")


def allows_drain(pdb_spec: Mapping, replicas: int) -> bool:
    """Whether at least one pod may be evicted when all `replicas` are ready."""
    def amount(value) -> int | None:
        if isinstance(value, str) and value.endswith("%"):
            return int(replicas * int(value[:-1]) / 100 + 0.999999)  # Kubernetes rounds up
        return int(value) if value is not None else None
    max_unavailable, min_available = amount(pdb_spec.get("maxUnavailable")), amount(pdb_spec.get("minAvailable"))
    if max_unavailable is not None:
        return max_unavailable >= 1
    if min_available is not None:
        return min_available < replicas
    return False


@stack_rule("replicated-deployments-have-drainable-pdb",
            "Every Deployment with more than one replica has a PodDisruptionBudget that still lets a node drain.",
            Severity.MEDIUM, "Add a PDB with maxUnavailable: 1 (or minAvailable below the replica count).",
            frameworks=[PLATFORM])
def deployments_have_pdb(args: StackValidationArgs, report_violation) -> None:
    pdbs = of_kind(args.resources, "PodDisruptionBudget")
    for deployment in of_kind(args.resources, "Deployment"):
        replicas = get(deployment.props, "spec", "replicas")
        if not isinstance(replicas, int) or replicas <= 1:
            continue
        labels = get(deployment.props, "spec", "template", "metadata", "labels") or {}
        namespace = namespace_of(deployment.props)
        matching = [p for p in pdbs if namespace_of(p.props) == namespace
                    and selects(get(p.props, "spec", "selector"), labels)]
        name = get(deployment.props, "metadata", "name") or deployment.name
        if not matching:
            report_violation(f"Deployment {name} has {replicas} replicas and no PodDisruptionBudget.",
                             deployment.urn)
        elif not any(allows_drain(get(p.props, "spec") or {}, replicas) for p in matching):
            report_violation(f"Deployment {name}: its PodDisruptionBudget lets no pod be evicted, "
                             "so a node drain would block.", deployment.urn)
