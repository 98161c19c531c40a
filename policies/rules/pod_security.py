"""The Pod Security Standards controls not covered in kubernetes.py, written as the standard
(https://kubernetes.io/docs/concepts/security/pod-security-standards/) states them."""

from __future__ import annotations

from collections.abc import Mapping

from pulumi_policy import Severity

from .base import containers, get, pod_rule

# Baseline "Sysctls": the safe set, as of Kubernetes 1.33.
SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
})
# Baseline "SELinux": allowed types (user and role must be unset).
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
# Restricted "Volume Types": everything else (hostPath, nfs, awsElasticBlockStore...) is refused.
RESTRICTED_VOLUME_SOURCES = frozenset({"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                                       "persistentVolumeClaim", "projected", "secret"})
APPARMOR_TYPES = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
PROBE_AND_HOOK_FIELDS = (("livenessProbe",), ("readinessProbe",), ("startupProbe",),
                         ("lifecycle", "postStart"), ("lifecycle", "preStop"))


def _contexts(spec: Mapping):
    yield "pod", spec.get("securityContext")
    for label, container in containers(spec):
        yield label, container.get("securityContext")


@pod_rule("pss-host-ports", "Containers open no host ports (PSS Baseline).", Severity.HIGH,
          "Remove ports[].hostPort (or set it 0); expose the pod through a Service.")
def host_ports(spec, metadata):
    for label, container in containers(spec):
        for port in container.get("ports") or []:
            if isinstance(port, Mapping) and port.get("hostPort") not in (None, 0):
                yield f"{label} opens hostPort {port.get('hostPort')}."


@pod_rule("pss-probe-host", "Probes and lifecycle hooks do not set `host` (PSS Baseline).", Severity.MEDIUM,
          "Remove the host field from httpGet/tcpSocket in probes and lifecycle hooks.")
def probe_host(spec, metadata):
    for label, container in containers(spec):
        for path in PROBE_AND_HOOK_FIELDS:
            handler = get(container, *path)
            for action in ("httpGet", "tcpSocket"):
                host = get(handler, action, "host")
                if host not in (None, ""):
                    yield f"{label} {'.'.join(path)}.{action} targets host {host!r}."


@pod_rule("pss-apparmor", "AppArmor is RuntimeDefault or Localhost, never Unconfined (PSS Baseline).",
          Severity.HIGH, "Remove appArmorProfile (or use RuntimeDefault/Localhost) and the unconfined annotation.")
def apparmor(spec, metadata):
    for where, context in _contexts(spec):
        profile = get(context, "appArmorProfile", "type")
        if profile is not None and profile not in APPARMOR_TYPES:
            yield f"{where} sets appArmorProfile.type {profile}."
    for key, value in (get(metadata, "annotations") or {}).items():
        if key.startswith(APPARMOR_ANNOTATION) and value != "runtime/default" and not str(value).startswith(
                "localhost/"):
            yield f"annotation {key} is {value!r}."


@pod_rule("pss-selinux", "SELinux options use only the container types, with no user or role (PSS Baseline).",
          Severity.HIGH, "Remove seLinuxOptions, or keep only type container_t (or another container type).")
def selinux(spec, metadata):
    for where, context in _contexts(spec):
        options = get(context, "seLinuxOptions")
        if not isinstance(options, Mapping):
            continue
        if options.get("type") not in (None, *SELINUX_TYPES):
            yield f"{where} sets seLinuxOptions.type {options.get('type')}."
        for field in ("user", "role"):
            if options.get(field) not in (None, ""):
                yield f"{where} sets seLinuxOptions.{field}."


@pod_rule("pss-proc-mount", "Containers use the Default /proc mount (PSS Baseline).", Severity.HIGH,
          "Remove securityContext.procMount or set it to Default.")
def proc_mount(spec, metadata):
    for label, container in containers(spec):
        mount = get(container, "securityContext", "procMount")
        if mount not in (None, "Default"):
            yield f"{label} sets procMount {mount}."


@pod_rule("pss-sysctls", "Pods set only the safe sysctls (PSS Baseline).", Severity.HIGH,
          "Remove securityContext.sysctls outside the safe set.")
def sysctls(spec, metadata):
    for entry in get(spec, "securityContext", "sysctls") or []:
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if name not in SAFE_SYSCTLS:
            yield f"the pod sets unsafe sysctl {name}."


@pod_rule("pss-host-process", "No Windows HostProcess containers (PSS Baseline).", Severity.CRITICAL,
          "Remove windowsOptions.hostProcess.")
def host_process(spec, metadata):
    for where, context in _contexts(spec):
        if get(context, "windowsOptions", "hostProcess") is True:
            yield f"{where} is a HostProcess container."


@pod_rule("pss-volume-types", "Pods use only the volume types the Restricted standard allows.", Severity.HIGH,
          "Use configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected or secret.",
          exemptible=True)
def volume_types(spec, metadata):
    for volume in spec.get("volumes") or []:
        if not isinstance(volume, Mapping):
            continue
        sources = set(volume) - {"name"}
        refused = sorted(sources - RESTRICTED_VOLUME_SOURCES)
        if refused:
            yield f"volume {volume.get('name', '?')} is of type {', '.join(refused)}."


@pod_rule("run-as-non-root-needs-numeric-user",
          "A container that must run as non-root also names a numeric runAsUser and runAsGroup.", Severity.HIGH,
          "Set securityContext.runAsUser and runAsGroup to non-zero numbers on the pod (or the container): "
          "the kubelet cannot verify runAsNonRoot for an image whose USER is a name and refuses to start it.")
def non_root_numeric_user(spec, metadata):
    pod = spec.get("securityContext")
    for label, container in containers(spec):
        own = container.get("securityContext")

        def effective(field: str):
            value = get(own, field)
            return get(pod, field) if value is None else value

        if effective("runAsNonRoot") is not True:
            continue
        for field in ("runAsUser", "runAsGroup"):
            value = effective(field)
            # A real run hands numbers over as floats (65532.0); a bool is no user id.
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
                yield f"{label} sets runAsNonRoot but no numeric {field} (the kubelet refuses a named image user)."
