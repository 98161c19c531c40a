"""Which intended connections the plan's NetworkPolicies allow (semantics in networkpolicy.py).

The intended connections come from the plan and the stack config (see `intents`): app ->
dependsOn, ingress controller -> every Ingress and HTTPRoute backend and HTTP-01 solver, Prometheus -> every
ServiceMonitor target, every pod -> DNS, token apps -> API server, IRSA apps -> AWS on 443,
Pod Identity pods (a PodIdentityAssociation names their ServiceAccount) -> AWS on 443 and the
node's Pod Identity agent on 80, Elasticsearch clients -> Elasticsearch, allowFromNamespaces callers -> the team. A blocked one
is a violation; an allowed connection none of them declares is reported.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

from .findings import Finding
from .known import COREDNS, chart_pods, gateway_controllers, ingress_classes, operator_pods
from .model import Cluster, Release, Workload, as_int, dig, selects
from .networkpolicy import Endpoint, Policies, port_map
from .solvers import Solver

API_SERVER = "kube-apiserver"
AWS_APIS = "AWS APIs"
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
# A public address standing for AWS's regional endpoints (STS for IRSA): no VPC endpoints here.
AWS_ADDRESS = "52.94.0.10"
POD_IDENTITY_AGENT = "EKS Pod Identity agent"
# Where pods ask the agent for credentials (AWS EKS user guide, "Set up the Amazon EKS Pod
# Identity Agent"; components/peers.py opens it).
POD_IDENTITY_AGENT_ADDRESS = "169.254.170.23"
# The `kubernetes` Service's address in an EKS cluster whose VPC is in 10/8.
SERVICE_ADDRESS = "172.20.0.1"


@dataclass
class Intent:
    source: Endpoint
    target: Endpoint
    port: int
    protocol: str
    why: str
    allowed: bool = False
    blocked_by: str = ""


@dataclass
class ServiceView:
    """A Service of the plan, a chart, or one an operator makes (ECK's `<name>-es-http`)."""

    namespace: str
    name: str
    selector: Mapping[str, str]
    ports: list[Mapping[str, Any]]
    labels: Mapping[str, str]


# -- endpoints -------------------------------------------------------------------------------

def _workload_endpoint(workload: Workload, release: str = "") -> Endpoint:
    name = f"{workload.namespace}/{workload.obj.name}" if not workload.synthesized else \
        f"{workload.namespace}/{workload.obj.name} (HTTP-01 solver)"
    return Endpoint(name, workload.namespace, workload.labels, workload.ports(), workload=workload,
                    release=release, host_network=workload.spec.get("hostNetwork") is True)


def _known_endpoint(entry: dict[str, Any], namespace: str, owner: str, release: str = "") -> Endpoint:
    return Endpoint(f"{namespace}/{owner} ({entry['role']})", namespace, entry["labels"], port_map(entry["ports"]),
                    release=release, role=entry["role"], calls_api=bool(entry.get("api")),
                    scrape=entry.get("scrape"))


def _known_services(entry: dict[str, Any], namespace: str) -> list[ServiceView]:
    return [ServiceView(namespace, name, entry["labels"], [{"port": p, "targetPort": t} for p, t in ports.items()], {})
            for name, ports in (entry.get("services") or {}).items()]


@dataclass
class Network:
    endpoints: list[Endpoint]
    services: list[ServiceView]
    api_server: Endpoint
    aws: Endpoint
    dns: list[Endpoint]
    pod_identity_agent: Endpoint = field(default_factory=lambda: Endpoint(
        POD_IDENTITY_AGENT, addresses=(POD_IDENTITY_AGENT_ADDRESS,), ports={"http": (80, "TCP")}, role="agent"))


def build_network(cluster: Cluster, releases: list[Release], rendered: dict[str, str], solvers: list[Solver],
                  vpc_cidr: Optional[str]) -> Network:
    """`rendered`: object origin -> release name, for objects that came out of a chart."""
    endpoints = [_workload_endpoint(w, rendered.get(w.obj.origin, "")) for w in cluster.workloads]
    endpoints += [_workload_endpoint(s.workload) for s in solvers]
    services = [ServiceView(s.namespace, s.name, s.get("spec", "selector") or {}, s.get("spec", "ports") or [],
                            s.get("metadata", "labels") or {}) for s in cluster.of_kind("Service")]
    rendered_releases = set(rendered.values())
    for release in releases:
        for entry in chart_pods(release):
            # Operator-made pods (Prometheus) never appear in a chart's rendered contents.
            if release.name in rendered_releases and entry["role"] != "prometheus":
                # The chart's own pods play the part known.py names, so the connections declared
                # by role (the ECK operator -> Elasticsearch) hold whether or not helm rendered them.
                for endpoint in endpoints:
                    if (endpoint.release, endpoint.namespace) == (release.name, release.namespace) \
                            and selects({"matchLabels": entry["labels"]}, endpoint.labels):
                        endpoint.role = entry["role"]
                continue
            endpoints.append(_known_endpoint(entry, release.namespace, release.name, release.name))
            services += _known_services(entry, release.namespace)
    for kind in ("Elasticsearch", "Kibana"):
        for resource in cluster.of_kind(kind):
            for entry in operator_pods(kind, resource.name):
                endpoint = _known_endpoint({**entry, "role": kind}, resource.namespace, resource.name)
                endpoints.append(endpoint)
                services += _known_services(entry, resource.namespace)
    dns = [e for e in endpoints if e.namespace == COREDNS["namespace"] and selects(
        {"matchLabels": COREDNS["labels"]}, e.labels)]
    if not dns:
        dns = [Endpoint("kube-system/coredns", COREDNS["namespace"], COREDNS["labels"],
                        {"dns": (53, "UDP"), "dns-tcp": (53, "TCP")}, role="dns")]
        endpoints += dns
    network = ipaddress.ip_network(vpc_cidr or "10.0.0.0/16", strict=False)
    # The private endpoint's ENIs sit in the cluster's subnets, inside the VPC.
    api_server = Endpoint(API_SERVER, addresses=(str(network.network_address + 10), SERVICE_ADDRESS),
                          ports={"https": (443, "TCP")}, role="api")
    aws = Endpoint(AWS_APIS, addresses=(AWS_ADDRESS,), ports={"https": (443, "TCP")}, role="aws")
    return Network(endpoints, services, api_server, aws, dns)


# -- intents ---------------------------------------------------------------------------------

def _resolve(target: Endpoint, port: Any, protocol: str = "TCP") -> Optional[tuple[int, str]]:
    if isinstance(port, str) and not port.isdigit():
        return target.ports.get(port)
    number = as_int(port, 0)
    return (number, protocol) if number else None


def _service_targets(network: Network, namespace: str, name: str, port: Any) -> list[tuple[Endpoint, Any]]:
    """Pods behind a Service port (by number or name), with the target port."""
    result = []
    for service in network.services:
        if service.namespace != namespace or service.name != name or not service.selector:
            continue
        for entry in service.ports:
            if port is not None and port not in (entry.get("port"), entry.get("name")):
                continue
            target_port = entry.get("targetPort", entry.get("port"))
            for endpoint in network.endpoints:
                if endpoint.namespace == namespace and selects({"matchLabels": service.selector}, endpoint.labels):
                    result.append((endpoint, target_port))
    return result


def _mounted_config_maps(workload: Workload) -> set[str]:
    """ConfigMaps a pod reads its configuration from: volumes (projected too) and envFrom."""
    names = set()
    for volume in workload.spec.get("volumes") or []:
        if not isinstance(volume, Mapping):
            continue
        sources = [volume, *(dig(volume, "projected", "sources") or [])]
        names |= {dig(s, "configMap", "name") for s in sources if isinstance(s, Mapping)}
    for container in workload.containers():
        names |= {dig(e, "configMapRef", "name") for e in container.get("envFrom") or [] if isinstance(e, Mapping)}
    return {n for n in names if n}


def _mentions(workload: Optional[Workload], text: str, cluster: Cluster) -> bool:
    """The pod names `text` in its command, args, env or a ConfigMap it reads (Fluent Bit's
    outputs are in its config file)."""
    if workload is None:
        return False
    for container in workload.containers():
        fields = [*(container.get("command") or []), *(container.get("args") or []),
                  *(str(e.get("value") or "") for e in container.get("env") or [] if isinstance(e, Mapping))]
        if any(text in str(f) for f in fields):
            return True
    mounted = _mounted_config_maps(workload)
    return any(text in str(c.get("data") or {}) for c in cluster.in_namespace("ConfigMap", workload.namespace)
               if c.name in mounted)


def intents(cluster: Cluster, network: Network, releases: list[Release], solvers: list[Solver],
            stack_config: Any, pod_identity: frozenset[tuple[str, str]] = frozenset()) -> tuple[list[Intent], list[str]]:
    """Every connection the plan and the stack config declare, and notes on those that name
    something the plan does not have. `pod_identity`: the (namespace, ServiceAccount) pairs the
    plan's PodIdentityAssociations name."""
    wanted: list[Intent] = []
    notes: list[str] = []

    def want(source: Endpoint, target: Endpoint, port: Any, why: str, protocol: str = "TCP") -> None:
        resolved = _resolve(target, port, protocol)
        if resolved is None:
            notes.append(f"{why}: {target.name} has no port {port}")
            return
        wanted.append(Intent(source, target, resolved[0], resolved[1], why))

    pods = [e for e in network.endpoints if not e.external]
    by_workload = {(e.namespace, e.workload.obj.name): e for e in pods if e.workload and not e.workload.synthesized}

    for endpoint in pods:
        if endpoint in network.dns or endpoint.host_network:
            continue
        for dns in network.dns[:1]:
            want(endpoint, dns, 53, "DNS", "UDP")
            want(endpoint, dns, 53, "DNS", "TCP")

    # Apps -> their declared dependencies; allowFromNamespaces callers -> the team's apps.
    for team in getattr(stack_config, "teams", []) or []:
        for app in team.apps:
            source = by_workload.get((team.name, app.name))
            for dependency in app.depends_on:
                target = by_workload.get((team.name, dependency))
                if source and target:
                    port = next(a.port for a in team.apps if a.name == dependency)
                    want(source, target, port, f"dependsOn of {team.name}/{app.name}")
        for caller_namespace in team.allow_from_namespaces:
            callers = [e for e in pods if e.namespace == caller_namespace
                       and not (e.workload and e.workload.synthesized)]
            for app in team.apps:
                target = by_workload.get((team.name, app.name))
                for caller in callers:
                    if target:
                        want(caller, target, app.port, f"allowFromNamespaces of team {team.name}")

    # The ingress controller -> every Ingress backend, and -> HTTP-01 solver pods.
    controllers: dict[Optional[str], list[Endpoint]] = {}
    for release in releases:
        for class_name, is_default in ingress_classes(release):
            mine = [e for e in pods if e.release == release.name and e.namespace == release.namespace]
            controllers.setdefault(class_name, []).extend(mine)
            if is_default:
                controllers.setdefault(None, []).extend(mine)
    for ingress in cluster.of_kind("Ingress"):
        class_name = ingress.get("spec", "ingressClassName") or (
            ingress.get("metadata", "annotations") or {}).get("kubernetes.io/ingress.class")
        backends = [dig(path, "backend", "service") for rule in ingress.get("spec", "rules") or []
                    for path in dig(rule, "http", "paths") or []]
        backends.append(ingress.get("spec", "defaultBackend", "service"))
        for backend in filter(None, backends):
            port = dig(backend, "port", "number") or dig(backend, "port", "name")
            targets = _service_targets(network, ingress.namespace, backend.get("name"), port)
            if not targets:
                notes.append(f"{ingress.label}: backend Service {backend.get('name')} is not in the plan")
            for target, target_port in targets:
                for controller in controllers.get(class_name, []):
                    want(controller, target, target_port, f"{ingress.label} backend")
    for route, target, target_port, routers in _http_route_backends(cluster, network, releases, pods, notes):
        for router in routers:
            want(router, target, target_port, f"{route.label} backend")
    for solver in solvers:
        endpoint = next(e for e in pods if e.workload is solver.workload)
        for controller in controllers.get(solver.ingress_class, []):
            want(controller, endpoint, 8089, f"HTTP-01 challenge for {solver.host}")

    # Prometheus -> every ServiceMonitor target.
    prometheus = [e for e in pods if e.role == "prometheus"]
    for monitor in cluster.of_kind("ServiceMonitor"):
        namespaces = dig(monitor.body, "spec", "namespaceSelector") or {}
        for service in network.services:
            in_scope = namespaces.get("any") is True or service.namespace in (
                namespaces.get("matchNames") or [monitor.namespace])
            if not in_scope or not selects(monitor.get("spec", "selector") or {}, service.labels):
                continue
            for endpoint_spec in monitor.get("spec", "endpoints") or []:
                port = endpoint_spec.get("port") or endpoint_spec.get("targetPort")
                for target, target_port in _service_targets(network, service.namespace, service.name, port):
                    for scraper in prometheus:
                        want(scraper, target, target_port if endpoint_spec.get("port") else port,
                             f"ServiceMonitor {monitor.namespace}/{monitor.name}")

    for grafana in [e for e in pods if e.role == "grafana"]:
        for scraper in prometheus:
            if scraper.release == grafana.release:
                want(grafana, scraper, "http-web", "Grafana's Prometheus datasource")
    for endpoint in pods:
        if endpoint.scrape:
            for scraper in prometheus:
                want(scraper, endpoint, endpoint.scrape, f"ServiceMonitor of chart {endpoint.release}")

    # Pods with a ServiceAccount token -> the API server; with IRSA -> AWS on 443; with Pod
    # Identity -> AWS on 443 and the agent on their node.
    accounts = {(a.namespace, a.name): a for a in cluster.of_kind("ServiceAccount")}
    for endpoint in pods:
        workload = endpoint.workload
        if endpoint.calls_api:
            want(endpoint, network.api_server, 443, "a chart's controller or agent calls the Kubernetes API")
        if workload is None or workload.synthesized:
            continue
        account_name = workload.spec.get("serviceAccountName") or "default"
        account = accounts.get((endpoint.namespace, account_name))
        automount = workload.spec.get("automountServiceAccountToken")
        if automount is None and account is not None:
            automount = account.get("automountServiceAccountToken")
        if automount is not False:
            want(endpoint, network.api_server, 443, "ServiceAccount token (the app calls the Kubernetes API)")
        if account is not None and (account.get("metadata", "annotations") or {}).get(IRSA_ANNOTATION):
            want(endpoint, network.aws, 443, "IRSA (AWS STS and the app's AWS APIs)")
        if (endpoint.namespace, account_name) in pod_identity:
            want(endpoint, network.aws, 443, "Pod Identity (the app's AWS APIs)")
            want(endpoint, network.pod_identity_agent, 80, "Pod Identity (credentials from the node's agent)")

    # Elasticsearch clients: whatever names its HTTP Service, Kibana, and the ECK operator.
    for elasticsearch in [e for e in pods if e.role == "Elasticsearch"]:
        service = f"{elasticsearch.name.split('/')[1].split(' ')[0]}-es-http"
        for client in pods:
            config = _release_values(releases, client.release) if client.workload is None else None
            if _mentions(client.workload, service, cluster) or (config is not None and service in str(config)) \
                    or client.role == "Kibana" or client.role == "operator":
                want(client, elasticsearch, 9200, f"Elasticsearch client ({client.role or 'names ' + service})")
    return wanted, notes


def _http_route_backends(cluster: Cluster, network: Network, releases: list[Release], pods: list[Endpoint],
                         notes: list[str]) -> Iterator[tuple[Any, Endpoint, Any, list[Endpoint]]]:
    """(HTTPRoute, backend pod, its port, the controller pods routing to it): an HTTPRoute's
    Service backends, reached from the pods of the controller of its Gateways' GatewayClass."""
    by_controller: dict[str, list[Endpoint]] = {}
    for release in releases:
        for controller in gateway_controllers(release):
            by_controller.setdefault(controller, []).extend(
                e for e in pods if e.release == release.name and e.namespace == release.namespace)
    classes = {c.name: c.get("spec", "controllerName") for c in cluster.of_kind("GatewayClass")}
    gateways = {(g.namespace, g.name): g for g in cluster.of_kind("Gateway")}
    for route in cluster.of_kind("HTTPRoute"):
        routers: list[Endpoint] = []
        for parent in route.get("spec", "parentRefs") or []:
            gateway = gateways.get((parent.get("namespace") or route.namespace, parent.get("name")))
            if gateway is None:
                notes.append(f"{route.label}: Gateway {parent.get('name')} is not in the plan")
                continue
            routers += by_controller.get(classes.get(gateway.get("spec", "gatewayClassName")), [])
        for rule in route.get("spec", "rules") or []:
            for backend in rule.get("backendRefs") or []:
                if backend.get("kind", "Service") != "Service" or backend.get("group", "") not in ("", "core"):
                    continue
                namespace = backend.get("namespace") or route.namespace
                targets = _service_targets(network, namespace, backend.get("name"), backend.get("port"))
                if not targets:
                    notes.append(f"{route.label}: backend Service {namespace}/{backend.get('name')} is not in the plan")
                for target, target_port in targets:
                    yield route, target, target_port, routers


def _release_values(releases: list[Release], name: str) -> Optional[Mapping[str, Any]]:
    return next((r.values for r in releases if r.name == name), None)



# -- verdicts --------------------------------------------------------------------------------

def _probeport_map(target: Endpoint) -> list[tuple[int, str]]:
    ports = sorted(set(target.ports.values()))
    return ports or [(443, "TCP")]


def assess(cluster: Cluster, network: Network, wanted: list[Intent]) -> tuple[list[Finding], list[Intent]]:
    policies = Policies(cluster)
    findings: list[Finding] = []
    for intent in wanted:
        intent.allowed, intent.blocked_by = policies.verdict(intent.source, intent.target, intent.port,
                                                             intent.protocol)
        if not intent.allowed:
            obj = intent.source.workload.obj if intent.source.workload else None
            findings.append(Finding(
                "readiness-network-blocked", obj.resource if obj else intent.source.name,
                f"{intent.source.name} -> {intent.target.name} :{intent.port}/{intent.protocol} ({intent.why}) is "
                f"blocked by the {intent.blocked_by}. Fix: allow it on both sides (egress of the caller, ingress "
                f"of the callee), on that port only.", obj.file if obj else None))
    declared = {(id(i.source), id(i.target), i.port, i.protocol) for i in wanted}
    pods = [e for e in network.endpoints if not e.external]
    targets = pods + [network.api_server, network.aws, network.pod_identity_agent]
    for source in pods:
        if source.workload is not None and source.workload.synthesized:
            continue  # a solver pod answers challenges; it calls nobody
        source_isolated = bool(policies.selecting(source, "Egress"))
        extra = []
        for target in targets:
            if target is source or not (source_isolated or policies.selecting(target, "Ingress")):
                continue
            ports = [f"{port}/{protocol}" for port, protocol in _probeport_map(target)
                     if (id(source), id(target), port, protocol) not in declared
                     and policies.verdict(source, target, port, protocol)[0]]
            if ports:
                extra.append(f"{target.name} :{','.join(ports)}")
        if extra:
            obj = source.workload.obj if source.workload else None
            findings.append(Finding(
                "readiness-network-undeclared", obj.resource if obj else source.name,
                f"{source.name} may connect to {'; '.join(extra)}, which nothing declares (no dependsOn, Ingress, HTTPRoute, "
                f"ServiceMonitor, token, IRSA, Pod Identity, Elasticsearch client or allowFromNamespaces). Fix: narrow the "
                f"NetworkPolicies that allow it, or declare the connection.", obj.file if obj else None))
    return findings, wanted


def matrix(wanted: list[Intent]) -> list[str]:
    """The intended connections and their verdicts, one line per (caller, callee); DNS summed up."""
    lines = []
    dns = [i for i in wanted if i.why == "DNS"]
    if dns:
        callers = {id(i.source) for i in dns}
        blocked = sorted({i.source.name for i in dns if not i.allowed})
        lines.append(f"  {'ok' if not blocked else 'BLOCKED':<8}every pod ({len(callers)}) -> "
                     f"{dns[0].target.name} :53/UDP+TCP (DNS)" + (f": blocked for {', '.join(blocked)}" if blocked else ""))
    rows: dict[tuple[str, str, str], list[Intent]] = {}
    for intent in wanted:
        if intent.why != "DNS":
            rows.setdefault((intent.source.name, intent.target.name, intent.why), []).append(intent)
    for (source, target, why), group in sorted(rows.items()):
        ok = all(i.allowed for i in group)
        ports = ",".join(sorted({f"{i.port}/{i.protocol}" for i in group}))
        lines.append(f"  {'ok' if ok else 'BLOCKED':<8}{source} -> {target} :{ports} ({why})")
    return lines
