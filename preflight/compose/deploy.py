"""How a service runs: replicas, resources, rolling updates, Swarm scheduling, healthchecks."""

from __future__ import annotations

import math
import re
from typing import Any, Optional

from components.config.base import quantity_value
from components.config.tenancy import AppResourcesConfig, AutoscalingConfig, LimitRangeConfig, ProbeConfig

from .findings import NOT_APPLICABLE, NOT_MAPPED, NOTICE, ImportedService
from .healthcheck import probe_from_healthcheck

_RESOURCE_DEFAULTS = AppResourcesConfig()
_HPA_DEFAULTS = AutoscalingConfig()
_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*([bkmgt]?)b?", re.I)

NO_ROLLBACK = ("Kubernetes does not roll a Deployment back by itself: a rollout whose new pods never get "
               "ready stops (ProgressDeadlineExceeded) while the old pods keep serving, and `pulumi up` "
               "reports it; roll back by deploying the previous config")


def cpu_quantity(value: Any) -> str:
    """Docker `cpus: '0.5'` -> '500m'; `2` -> '2'."""
    try:
        cpus = float(str(value).strip())
    except ValueError:
        cpus = math.nan
    if not math.isfinite(cpus) or cpus <= 0:
        raise ValueError("must be a positive number of CPUs such as 0.5")
    milli = math.ceil(cpus * 1000)
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def memory_quantity(value: Any) -> str:
    """Docker's binary units: `512M`/`512m`/`512mb` -> '512Mi', `1G` -> '1Gi', bytes -> Mi or bytes."""
    match = _MEMORY.fullmatch(str(value).strip())
    if not match or float(match.group(1)) <= 0:
        raise ValueError("must be an amount of memory such as 512M or 1G")
    number, unit = match.group(1), match.group(2).lower()
    if unit in ("", "b"):
        amount = math.ceil(float(number))
        return f"{amount // 2**20}Mi" if amount % 2**20 == 0 else str(amount)
    return f"{number}{unit.upper()}i"


def map_deploy(service: dict[str, Any], out: ImportedService, limits: LimitRangeConfig, stateful: bool) -> None:
    deploy = service.get("deploy") or {}
    if not isinstance(deploy, dict):
        out.note(NOT_MAPPED, "deploy", "must be a mapping; ignored")
        deploy = {}
    _replicas(service, deploy, out, stateful)
    _resources(service, deploy, out, limits)
    _update_config(deploy, out, stateful)
    _scheduling(service, deploy, out)


def _replicas(service: dict[str, Any], deploy: dict[str, Any], out: ImportedService, stateful: bool) -> None:
    mode = deploy.get("mode", "replicated")
    if mode == "global":
        out.note(NOT_APPLICABLE, "deploy.mode", "global (one task per node) is a DaemonSet, which apps do not get; "
                 "mapped as a replicated app (set deploy.replicas)")
    elif mode != "replicated":
        out.note(NOT_MAPPED, "deploy.mode", f"{mode}: run-to-completion jobs are not apps; imported as a "
                 "long-running app, which is probably not what you want")
    key = "deploy.replicas" if "replicas" in deploy else "scale"
    given = deploy.get("replicas", service.get("scale"))
    replicas: Optional[int] = None
    if given is not None:
        try:
            replicas = int(str(given))
        except ValueError:
            out.note(NOT_MAPPED, key, f"{given!r} is not a number of replicas")
        else:
            if replicas < 1:
                out.note(NOTICE, key, f"{replicas} replicas: an app runs at least one; mapped as 1")
                replicas = 1
    if replicas is None and stateful:
        replicas = 1
        out.note(NOTICE, "deploy.replicas", "not set: the stateful app runs one replica (scale it deliberately: "
                 "each replica gets its own volume)")
    if replicas is None:
        out.note(NOTICE, "deploy.replicas", f"not set (Compose runs one container): the app autoscales from "
                 f"{_HPA_DEFAULTS.min_replicas} to {_HPA_DEFAULTS.max_replicas} replicas on CPU and memory, "
                 "the platform default; set replicas and autoscaling: null for a fixed count")
        return
    out.app["replicas"] = replicas
    out.app["autoscaling"] = None
    if stateful and replicas > 1:
        out.note(NOTICE, key, f"{replicas} replicas of a stateful app: each gets its own volume (StatefulSet); "
                 "the data is not shared between them")


def _quantities(section: Any, out: ImportedService, where: str) -> dict[str, str]:
    found: dict[str, str] = {}
    if not isinstance(section, dict):
        return found
    for key, value in section.items():
        path = f"{where}.{key}"
        if key in ("cpus", "memory"):
            try:
                found[key] = cpu_quantity(value) if key == "cpus" else memory_quantity(value)
            except ValueError as err:
                out.note(NOT_MAPPED, path, f"{value!r} {err}")
        else:
            out.note(NOT_MAPPED, path, "the App sets CPU and memory only")
    return found


def _resources(service: dict[str, Any], deploy: dict[str, Any], out: ImportedService,
               limits: LimitRangeConfig) -> None:
    resources = deploy.get("resources") or {}
    reservations = _quantities(resources.get("reservations"), out, "deploy.resources.reservations")
    capped = _quantities(resources.get("limits"), out, "deploy.resources.limits")
    # The Compose v2 spellings of the same settings.
    for key, target, kind in (("cpus", capped, "cpus"), ("mem_limit", capped, "memory"),
                              ("mem_reservation", reservations, "memory")):
        if key in service and kind not in target:
            target.update(_quantities({kind: service[key]}, out, key))
    if not reservations and not capped:
        return
    values: dict[str, str] = {}
    for kind, docker in (("cpu", "cpus"), ("memory", "memory")):
        request, limit = reservations.get(docker), capped.get(docker)
        default_request = getattr(_RESOURCE_DEFAULTS, f"{kind}_request")
        default_limit = getattr(_RESOURCE_DEFAULTS, f"{kind}_limit")
        if request is None:
            request = default_request if limit is None else min(default_request, limit, key=quantity_value)
        if limit is None:
            limit = max(default_limit, request, key=quantity_value)
        minimum = getattr(limits, f"min_{kind}")
        for role in ("request", "limit"):
            value = request if role == "request" else limit
            if quantity_value(value) < quantity_value(minimum):
                out.note(NOTICE, f"deploy.resources.{'reservations' if role == 'request' else 'limits'}.{docker}",
                         f"{value} is below the team's LimitRange minimum; raised to {minimum}")
                value = minimum
            values[f"{kind}{role.title()}"] = value
    out.app["resources"] = {key: values[key] for key in ("cpuRequest", "memoryRequest", "cpuLimit", "memoryLimit")}


def _amount(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def _update_config(deploy: dict[str, Any], out: ImportedService, stateful: bool) -> None:
    update = deploy.get("update_config")
    if isinstance(update, dict) and update:
        parallelism = update.get("parallelism", 1)
        order = update.get("order", "stop-first")
        amount = "100%" if str(parallelism) == "0" else str(parallelism)
        if stateful:
            out.note(NOT_APPLICABLE, "deploy.update_config", "a StatefulSet replaces its pods one at a time, "
                     "highest ordinal first, each after the previous one is ready")
        elif not amount.rstrip("%").isdigit() or order not in ("start-first", "stop-first"):
            out.note(NOT_MAPPED, "deploy.update_config", f"parallelism {parallelism!r} / order {order!r} is "
                     "not a count and start-first or stop-first; the platform default rollout is kept")
        else:
            # start-first starts new tasks before stopping old ones: surge; stop-first: unavailable.
            surge, unavailable = (amount, "0") if order == "start-first" else ("0", amount)
            out.app["maxSurge"], out.app["maxUnavailable"] = _amount(surge), _amount(unavailable)
        action = update.get("failure_action", "pause")
        if action == "pause":
            out.note(NOTICE, "deploy.update_config.failure_action", "pause: Kubernetes likewise stops a "
                     "rollout whose new pods never get ready, and the old pods keep serving")
        else:
            out.note(NOT_APPLICABLE, "deploy.update_config.failure_action", f"{action}: {NO_ROLLBACK}")
        for key, why in (("delay", "the next pods start as soon as the previous ones are ready (readiness "
                                   "probe), not after a fixed delay"),
                         ("monitor", "readiness (the probe) decides whether an updated pod is healthy"),
                         ("max_failure_ratio", "a rollout stops at the first pods that never get ready")):
            if key in update:
                out.note(NOT_APPLICABLE, f"deploy.update_config.{key}", why)
    if deploy.get("rollback_config"):
        out.note(NOT_APPLICABLE, "deploy.rollback_config", NO_ROLLBACK)


def _scheduling(service: dict[str, Any], deploy: dict[str, Any], out: ImportedService) -> None:
    restart_why = ("Kubernetes always restarts a failed container of an app (with back-off), and the liveness "
                   "probe restarts a hung one; condition, delay, max_attempts and window do not apply")
    if deploy.get("restart_policy"):
        out.note(NOT_APPLICABLE, "deploy.restart_policy", restart_why)
    if "restart" in service:
        out.note(NOT_APPLICABLE, "restart", restart_why)
    placement = deploy.get("placement") or {}
    for constraint in placement.get("constraints") or []:
        if "node.role" in str(constraint):
            why = ("apps run on the workload nodes, never on the control plane, which EKS runs and manages "
                   "(there are no manager nodes to pin to)")
        else:
            why = "apps run on the workload node group; pods do not choose nodes by label"
        out.note(NOT_APPLICABLE, "deploy.placement.constraints", f"{constraint}: {why}")
    for key in ("preferences", "max_replicas_per_node"):
        if placement.get(key):
            out.note(NOT_APPLICABLE, f"deploy.placement.{key}", "the platform spreads replicas over zones and "
                     "nodes itself (topology spread constraints in prod)")
    mode = deploy.get("endpoint_mode")
    if mode == "dnsrr":
        out.app["headlessService"] = True
        out.note(NOTICE, "deploy.endpoint_mode", "dnsrr: mapped to a headless Service (one DNS record per pod) "
                 "beside the app's usual Service")
    if deploy.get("labels"):
        out.note(NOT_MAPPED, "deploy.labels", "the platform sets its own labels on every object")


def map_probe(service: dict[str, Any], out: ImportedService, port: Optional[int]) -> Optional[int]:
    """The probe entry; returns the app port a local HTTP healthcheck names when the service
    itself names none."""
    healthcheck = service.get("healthcheck")
    disabled = isinstance(healthcheck, dict) and (
        healthcheck.get("disable") is True or healthcheck.get("test") in (["NONE"], "NONE"))
    if not isinstance(healthcheck, dict) or disabled:
        if port is None:
            out.note(NOT_MAPPED, "healthcheck", "no healthcheck and no port: the platform probes every app; "
                     "add a healthcheck (an exec or HTTP check) or a port, then import again")
        else:
            out.app["probe"] = {"tcp": True}
            out.note(NOTICE, "healthcheck", f"{'disabled' if disabled else 'none'}: a TCP probe on port {port} "
                     "(up when it accepts connections); an HTTP health endpoint (probe.path) is a better check")
        return port
    probe, found_port = probe_from_healthcheck(healthcheck, port, out)
    if probe is None:
        return port
    ProbeConfig.model_validate(probe)  # an internal error, not bad input, if the mapping is wrong
    out.app["probe"] = probe
    return port if port is not None else found_port
