"""One Compose service -> one App entry: image, ports and host, volumes, dependencies, and the
settings the restricted Pod Security level refuses. Deploy settings and probes: `deploy`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional

from components.config.tenancy import LimitRangeConfig, StatefulConfig
from policies.rules.image_reference import image_pin_problem

from .deploy import map_deploy, map_probe
from .environment import map_environment, service_names_in
from .findings import NOT_APPLICABLE, NOT_MAPPED, NOTICE, POD_SECURITY, REFUSED, ImportedService
from .source import ComposeFile

DEFAULT_STORAGE_GI = StatefulConfig.model_fields["storage_gi"].default
APP_KEYS = ("name", "image", "port", "replicas", "autoscaling", "resources", "maxSurge", "maxUnavailable", "host",
            "dependsOn", "env", "secrets", "probe", "stateful", "headlessService")
"""The keys the importer writes, in this order; it leaves every other key of an app alone."""
HANDLED = {"image", "build", "deploy", "ports", "expose", "environment", "env_file", "secrets", "volumes", "tmpfs",
           "healthcheck", "depends_on", "links", "networks", "network_mode", "privileged", "cap_add", "cap_drop",
           "pid", "ipc", "userns_mode", "devices", "security_opt", "user", "read_only", "restart", "scale", "cpus",
           "mem_limit", "mem_reservation"}
NOT_MAPPED_WHY = {
    "command": "the app runs the image's own ENTRYPOINT and CMD; build this command into the image",
    "entrypoint": "the app runs the image's own ENTRYPOINT and CMD; build this entrypoint into the image",
    "container_name": "pods are named by their workload; other apps reach this one by the app name (its Service)",
    "hostname": "pods are named by their workload; other apps reach this one by the app name (its Service)",
    "logging": "the platform collects every container's stdout and stderr into Elasticsearch (EFK)",
    "labels": "the platform sets its own labels on every object",
    "configs": "the App mounts no config files; build them into the image or pass the settings as env",
    "working_dir": "the app runs in the image's WORKDIR; set it in the image",
    "stop_grace_period": "pods get Kubernetes' 30 s to stop after SIGTERM",
    "extra_hosts": "name resolution is the cluster's DNS; call other apps by their app name",
    "dns": "name resolution is the cluster's DNS", "dns_search": "name resolution is the cluster's DNS",
    "sysctls": "apps set no sysctls",
    "ulimits": "the node's limits apply",
    "extends": "resolve it first (`docker compose config` prints the file with extends applied)",
}
_DNS1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_UNSAFE_SECURITY_OPT = re.compile(r"(seccomp|apparmor)[:=]unconfined|label[:=]disable|systempaths[:=]unconfined")


@dataclass
class ImportOptions:
    team: str
    hosts: dict[str, str] = field(default_factory=dict)
    """--host SERVICE=HOST, by Compose service name."""
    storage_gi: dict[str, int] = field(default_factory=dict)
    """--storage-gi SERVICE=GI, by Compose service name."""
    limits: LimitRangeConfig = field(default_factory=LimitRangeConfig)
    """The team's LimitRange: resources below its minimum are raised to it."""


def app_name(service: str) -> str:
    return re.sub(r"[_.]", "-", service.lower())


def map_services(compose: ComposeFile, options: ImportOptions) -> list[ImportedService]:
    names = {service: app_name(service) for service in compose.services}
    imported, values = [], {}
    for service, settings in compose.services.items():
        out = ImportedService(service=service, name=names[service])
        values[service] = _map_service(settings, compose, options, out)
        imported.append(out)
    dependencies = {out.service: _depends_on(out, compose, names, values[out.service]) for out in imported}
    for out in imported:
        _unrelated_neighbours(out, compose, dependencies)
        for service, message in compose.interpolation:
            if service == out.service:
                out.note(NOTICE, "interpolation", message)
        out.app = {key: out.app[key] for key in APP_KEYS if key in out.app}
    return imported


def _map_service(service: dict[str, Any], compose: ComposeFile, options: ImportOptions,
                 out: ImportedService) -> dict[str, str]:
    out.app["name"] = out.name
    if not _DNS1035.fullmatch(out.name) or len(out.name) > 63:
        out.note(REFUSED, "(name)", f"{out.service!r} cannot name a Kubernetes Service even as {out.name!r} "
                 "(lowercase letters, digits and '-', starting with a letter, at most 63); rename the service")
    elif out.name != out.service:
        out.note(NOTICE, "(name)", f"the app is named {out.name!r} (Kubernetes names are lowercase, no '_')")
    _image(service, out)
    _security(service, out)
    stateful = _volumes(service, compose, options, out)
    map_deploy(service, out, options.limits, stateful)
    port = _ports(service, options, out)
    port = map_probe(service, out, port)
    if port is not None:
        out.app["port"] = port
    values = map_environment(service, compose, out)
    for key in service:
        if key in HANDLED or key.startswith("x-"):
            continue
        why = NOT_MAPPED_WHY.get(key, "the App spec has no equivalent")
        out.note(NOT_APPLICABLE if key in ("logging", "container_name", "hostname") else NOT_MAPPED, key, why)
    return values


def _image(service: dict[str, Any], out: ImportedService) -> None:
    image = service.get("image")
    if not image:
        build = " (it has build:; build and push the image first)" if "build" in service else ""
        out.note(REFUSED, "image", f"no image{build}: set image: to a pushed image with a version tag "
                 "(e.g. ':1.4.2') or a digest ('@sha256:...')")
        return
    image = str(image)
    problem = image_pin_problem(image)
    if problem:
        out.note(REFUSED, "image", f"{image} {problem}, in the Compose file's service {out.service!r} (the "
                 "platform runs pinned images only)")
    out.app["image"] = image
    if "build" in service:
        out.note(NOT_APPLICABLE, "build", "the platform deploys the pushed image; build it in CI")


def _security(service: dict[str, Any], out: ImportedService) -> None:
    def refuse(key: str, what: str, fix: str = "remove it") -> None:
        out.note(REFUSED, key, f"{what}; {POD_SECURITY}, which forbids it: {fix}")

    if service.get("privileged"):
        refuse("privileged", "true: a privileged container can do anything the node can")
    if service.get("cap_add"):
        refuse("cap_add", f"{', '.join(map(str, service['cap_add']))}: every app container drops ALL capabilities "
               "and adds none", "remove it (and listen on a port above 1024 rather than add NET_BIND_SERVICE)")
    for key, shared in (("network_mode", "network"), ("pid", "processes"), ("ipc", "IPC"),
                        ("userns_mode", "user namespace")):
        if service.get(key) == "host":
            refuse(key, f"host: the container would share the node's {shared}")
    mode = service.get("network_mode")
    if mode and mode not in ("host", "bridge"):
        out.note(NOT_MAPPED, "network_mode", f"{mode}: every app has its own pod network; reach others by name")
    if service.get("devices"):
        refuse("devices", f"{', '.join(map(str, service['devices']))}: host devices reach the node's hardware")
    for option in service.get("security_opt") or []:
        if _UNSAFE_SECURITY_OPT.search(str(option)):
            refuse("security_opt", f"{option}: turns off a kernel protection")
        elif str(option).startswith("no-new-privileges"):
            out.note(NOTICE, "security_opt", f"{option}: already so (allowPrivilegeEscalation: false)")
        else:
            out.note(NOT_MAPPED, "security_opt", f"{option}: apps run with RuntimeDefault seccomp, no SELinux options")
    user = str(service.get("user", "")).strip()
    if user.split(":")[0] in ("root", "0"):
        refuse("user", f"{user}: runs as root", "remove it; every app runs as uid 65532")
    elif user:
        out.note(NOT_APPLICABLE, "user", f"{user}: every app runs as uid:gid 65532:65532 (non-root); the image's "
                 "files must be readable by that user")
    if service.get("cap_drop"):
        out.note(NOTICE, "cap_drop", "every app container already drops ALL capabilities")


def _volumes(service: dict[str, Any], compose: ComposeFile, options: ImportOptions, out: ImportedService) -> bool:
    named: list[tuple[str, str]] = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            kind, source, target = entry.get("type", "volume"), entry.get("source"), entry.get("target")
        else:
            parts = str(entry).split(":")
            source, target = (parts[0], parts[1]) if len(parts) > 1 else (None, parts[0])
            kind = "bind" if source and source[0] in "/.~" else "volume"
        if kind == "bind" or kind == "npipe":
            out.note(REFUSED, "volumes", f"bind mount {source} -> {target}: a host path (hostPath volume); "
                     f"{POD_SECURITY}, which forbids it: build the files into the image, or use a named "
                     "volume for data")
        elif kind == "tmpfs":
            _tmpfs(target, out)
        elif kind != "volume":
            out.note(NOT_MAPPED, "volumes", f"{kind} volume at {target}: apps get one volume claim only")
        elif not source:
            out.note(NOT_MAPPED, "volumes", f"anonymous volume at {target}: it lives only as long as the container; "
                     "name it (name:/path) for a volume claim")
        else:
            named.append((str(source), str(target)))
    tmpfs = service.get("tmpfs") or []
    for target in [tmpfs] if isinstance(tmpfs, str) else tmpfs:
        _tmpfs(str(target).split(":")[0], out)
    if not named:
        return False
    (source, target), extra = named[0], named[1:]
    size = options.storage_gi.get(out.service)
    if size is None:
        size = DEFAULT_STORAGE_GI
        out.note(NOTICE, "volumes", f"{source}: a {size} Gi volume claim (the default; set its size with "
                 f"--storage-gi {out.service}=GI)")
    out.app["stateful"] = {"storageGi": size, "mountPath": target}
    for other_source, other_target in extra:
        out.note(NOT_MAPPED, "volumes", f"{other_source} at {other_target}: an app mounts one volume (already "
                 f"{source} at {target}); put the data under one path or split the service")
    definition = compose.volumes.get(source)
    if isinstance(definition, dict):
        if definition.get("external"):
            out.note(NOTICE, f"volumes.{source}", "external: the existing data is not moved; copy it into the "
                     "new volume claim")
        if definition.get("driver", "local") != "local" or definition.get("driver_opts"):
            out.note(NOT_APPLICABLE, f"volumes.{source}", "driver: volume claims use the platform's storage "
                     "class (an EBS volume per replica, ReadWriteOnce)")
    sharing = [name for name, other in compose.services.items() if name != out.service and any(
        str(v).split(":")[0] == source or (isinstance(v, dict) and v.get("source") == source)
        for v in other.get("volumes") or [])]
    if sharing:
        out.note(NOTICE, "volumes", f"{source} is also mounted by {', '.join(sharing)}: each app gets its own "
                 "volume; EBS volumes are not shared")
    return True


def _tmpfs(target: Optional[str], out: ImportedService) -> None:
    if target and target.rstrip("/") != "/tmp":
        out.note(NOT_MAPPED, "tmpfs", f"{target}: the root filesystem is read-only; only /tmp (and a volume) "
                 "are writable")


def _port_entries(service: dict[str, Any]) -> list[tuple[str, Optional[str], str]]:
    """(container port, published port or None, protocol) of ports and expose."""
    entries = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            published = entry.get("published")
            entries.append((str(entry.get("target", "")), None if published is None else str(published),
                            str(entry.get("protocol", "tcp"))))
            continue
        text, _, protocol = str(entry).partition("/")
        text = re.sub(r"^\[[^\]]*\]:|^[0-9.]+:(?=.*:)", "", text)  # a host IP in front
        published, _, target = text.rpartition(":")
        entries.append((target, published or None, protocol or "tcp"))
    for entry in service.get("expose") or []:
        text, _, protocol = str(entry).partition("/")
        entries.append((text, None, protocol or "tcp"))
    return entries


def _ports(service: dict[str, Any], options: ImportOptions, out: ImportedService) -> Optional[int]:
    ports: list[tuple[int, Optional[str]]] = []
    for target, published, protocol in _port_entries(service):
        if protocol.lower() != "tcp":
            out.note(NOT_MAPPED, "ports", f"{target}/{protocol}: apps serve TCP only")
        elif not target.isdigit() or not 1 <= int(target) <= 65535:
            out.note(NOT_MAPPED, "ports", f"{target}: a port range or unreadable port; apps serve one port")
        else:
            ports.append((int(target), published))
    public = [p for p in ports if p[1] in ("80", "443")]
    chosen = (public or ports or [(None, None)])[0][0]
    for target in dict.fromkeys(p[0] for p in ports if p[0] != chosen):
        out.note(NOT_MAPPED, "ports", f"{target}: an app serves one port ({chosen}); this one is not reachable")
    for target, published in ports:
        if published and published not in ("80", "443"):
            out.note(NOTICE, "ports", f"{published}:{target}: apps are not published on node ports; other apps "
                     "reach it by name, the outside world only through the ingress (80/443)")
    if chosen is None:
        out.note(NOTICE, "ports", "none: the app's Service gets the default port 8080, where nothing answers; "
                 "other apps cannot call it (fine for a worker)")
    elif chosen < 1024:
        out.note(NOTICE, "ports", f"{chosen}: the app runs as a non-root user; the image must be able to listen "
                 "there (an unprivileged image, or a port above 1024)")
    host = options.hosts.get(out.service)
    if public and not host:
        host = f"{out.name}.{options.team}.change-me.invalid"
        out.note(NOTICE, "ports", f"published on {public[0][1]}: served by the platform's ingress with TLS at a "
                 f"placeholder host {host}; give the real one with --host {out.service}=HOST")
    if any(p[1] == "443" for p in public):
        out.note(NOTICE, "ports", "TLS ends at the platform's ingress: the app gets plain HTTP on port "
                 f"{chosen}")
    if host:
        out.app["host"] = host
    return chosen


def _depends_on(out: ImportedService, compose: ComposeFile, names: dict[str, str],
                values: dict[str, str]) -> list[str]:
    """dependsOn: what depends_on (and links) declare, and the services on a shared network its
    environment names as a host; NetworkPolicies then allow exactly those calls."""
    service = compose.services[out.service]
    declared = service.get("depends_on") or []
    explicit = [str(d) for d in (declared.keys() if isinstance(declared, dict) else declared)]
    explicit += [str(link).split(":")[0] for link in service.get("links") or []]
    for dependency in explicit:
        if dependency not in names:
            out.note(NOT_MAPPED, "depends_on", f"{dependency}: no such service in the file")
    named = service_names_in(values, set(_neighbours(out.service, compose)))
    dependencies = [d for d in names if d != out.service and (d in explicit or d in named)]
    if dependencies:
        out.app["dependsOn"] = [names[d] for d in dependencies]
    return dependencies


def _unrelated_neighbours(out: ImportedService, compose: ComposeFile, dependencies: dict[str, list[str]]) -> None:
    unrelated = [other for other in _neighbours(out.service, compose)
                 if other not in dependencies[out.service] and out.service not in dependencies[other]]
    if unrelated:
        out.note(NOTICE, "networks", f"shares a network with {', '.join(unrelated)}, and neither calls the other "
                 "by depends_on or a host name in its environment: no traffic between them is allowed (add "
                 "dependsOn if one calls the other)")


def _neighbours(name: str, compose: ComposeFile) -> list[str]:
    networks = _networks(compose.services[name])
    return [other for other, settings in compose.services.items() if other != name and networks & _networks(settings)]


def _networks(service: dict[str, Any]) -> set[str]:
    if service.get("network_mode"):
        return set()
    networks = service.get("networks")
    if not networks:
        return {"default"}
    return {str(n) for n in (networks.keys() if isinstance(networks, dict) else networks)}
