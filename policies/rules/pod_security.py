"""Pod Security: the Pod Security Standards controls, written as the standard
(https://kubernetes.io/docs/concepts/security/pod-security-standards/) states them and as the
reference admission code (k8s.io/pod-security-admission/policy) checks them; the namespaces'
enforcement level; and the securityContext hardening beyond the standard.

Levels: each Baseline control is a rule of its own, and so is each Restricted control, so a
namespace that enforces baseline is judged at baseline: the pack config exempts it, by name and
with a reason, from the Restricted rules (they are exemptible) and the Baseline rules still apply.
Where Restricted tightens a Baseline control (capabilities, seccomp) both rules exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from pulumi_policy import Severity

from .base import PLATFORM, cis_eks, nsa_cisa, pod_rule, pss_baseline, pss_restricted, resource_rule
from .helpers import containers, get, kind_of, volumes

# The Kubernetes minor the version-dependent controls are judged for when the pack config does
# not say (preflight check --stack passes the stack's cluster.kubernetesVersion).
DEFAULT_KUBERNETES_VERSION = "1.35"
KUBERNETES_VERSION_SETTING = {"kubernetesVersion": {
    "type": "string", "default": DEFAULT_KUBERNETES_VERSION, "pattern": r"^1\.[0-9]+$",
    "description": 'a Kubernetes minor version such as "1.35"',
}}
# Since 1.35 a pod in its own user namespace (hostUsers: false) may run as UID 0 and unmask
# /proc at baseline: root in the pod is not root on the node.
USER_NAMESPACE_RELAXATION = (1, 35)
# Baseline "Sysctls": the safe set grows with the version that judges the pod.
SAFE_SYSCTLS_SINCE = {
    (1, 0): {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
             "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start"},
    (1, 27): {"net.ipv4.ip_local_reserved_ports"},
    (1, 29): {"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
              "net.ipv4.tcp_keepalive_probes"},
    (1, 32): {"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"},
    (1, 37): {"net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat"},
}
# Baseline "Capabilities": adding any beyond the container runtime's default set is refused.
DEFAULT_CAPABILITIES = frozenset({"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                                  "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})
SECCOMP_TYPES = ("RuntimeDefault", "Localhost")
# Baseline "SELinux": allowed types (user and role must be unset).
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
# Restricted "Volume Types": everything else (hostPath, nfs, awsElasticBlockStore...) is refused.
RESTRICTED_VOLUME_SOURCES = frozenset({"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                                       "persistentVolumeClaim", "projected", "secret"})
APPARMOR_TYPES = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")
PROBE_AND_HOOK_FIELDS = (("livenessProbe",), ("readinessProbe",), ("startupProbe",),
                         ("lifecycle", "postStart"), ("lifecycle", "preStop"))


def _contexts(spec: Mapping):
    yield "pod", spec.get("securityContext")
    for label, container in containers(spec):
        yield label, container.get("securityContext")


def _profile_types_outside(spec: Mapping, field: str, allowed) -> Iterator[str]:
    """Baseline's rule for seccomp and AppArmor: unset is fine, a set type must be allowed."""
    for where, context in _contexts(spec):
        profile = get(context, field, "type")
        if profile is not None and profile not in allowed:
            yield f"{where} sets {field}.type {profile}."


@pod_rule("pss-host-namespaces", "Pods do not share the node's network, PID or IPC namespace (PSS Baseline).",
          Severity.HIGH, "Remove hostNetwork, hostPID and hostIPC (or set them false).", exemptible=True,
          frameworks=[pss_baseline("Host Namespaces"), cis_eks("4.2.2"), cis_eks("4.2.3"), cis_eks("4.2.4")])
def host_namespaces(spec, metadata):
    for field in HOST_NAMESPACES:
        if spec.get(field) is True:
            yield f"The pod sets {field}: true."


@pod_rule("pss-privileged", "No container runs privileged (PSS Baseline).", Severity.CRITICAL,
          "Remove securityContext.privileged or set it false.",
          frameworks=[pss_baseline("Privileged Containers"), cis_eks("4.2.1")])
def privileged(spec, metadata):
    for label, container in containers(spec):
        if get(container, "securityContext", "privileged") is True:
            yield f"{label} is privileged."


@pod_rule("pss-host-path-volumes", "Pods mount no hostPath volumes (PSS Baseline).", Severity.HIGH,
          "Use emptyDir, a PVC or a projected volume; exempt a platform DaemonSet by namespace if it must.",
          exemptible=True, frameworks=[pss_baseline("HostPath Volumes")])
def host_path(spec, metadata):
    for volume in volumes(spec):
        if volume.get("hostPath") is not None:
            yield f"Volume {volume.get('name', '?')} is a hostPath ({get(volume, 'hostPath', 'path')})."


@pod_rule("pss-host-ports", "Containers open no host ports (PSS Baseline).", Severity.HIGH,
          "Remove ports[].hostPort (or set it 0); expose the pod through a Service.",
          frameworks=[pss_baseline("Host Ports")])
def host_ports(spec, metadata):
    for label, container in containers(spec):
        for port in container.get("ports") or []:
            if isinstance(port, Mapping) and port.get("hostPort") not in (None, 0):
                yield f"{label} opens hostPort {port.get('hostPort')}."


@pod_rule("pss-probe-host", "Probes and lifecycle hooks do not set `host` (PSS Baseline).", Severity.MEDIUM,
          "Remove the host field from httpGet/tcpSocket in probes and lifecycle hooks.",
          frameworks=[pss_baseline("Host Probes / Lifecycle Hooks")])
def probe_host(spec, metadata):
    for label, container in containers(spec):
        for path in PROBE_AND_HOOK_FIELDS:
            handler = get(container, *path)
            for action in ("httpGet", "tcpSocket"):
                host = get(handler, action, "host")
                if host not in (None, ""):
                    yield f"{label} {'.'.join(path)}.{action} targets host {host!r}."


@pod_rule("pss-apparmor", "AppArmor is RuntimeDefault or Localhost, never Unconfined (PSS Baseline).",
          Severity.HIGH, "Remove appArmorProfile (or use RuntimeDefault/Localhost) and the unconfined annotation.",
          frameworks=[pss_baseline("AppArmor")])
def apparmor(spec, metadata):
    yield from _profile_types_outside(spec, "appArmorProfile", APPARMOR_TYPES)
    for key, value in (get(metadata, "annotations") or {}).items():
        if key.startswith(APPARMOR_ANNOTATION) and value != "runtime/default" and not str(value).startswith(
                "localhost/"):
            yield f"annotation {key} is {value!r}."


@pod_rule("pss-selinux", "SELinux options use only the container types, with no user or role (PSS Baseline).",
          Severity.HIGH, "Remove seLinuxOptions, or keep only type container_t (or another container type).",
          frameworks=[pss_baseline("SELinux")])
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


def _unmasked_proc(spec: Mapping) -> Iterator[str]:
    for label, container in containers(spec):
        mount = get(container, "securityContext", "procMount")
        if mount not in (None, "Default"):
            yield f"{label} sets procMount {mount}."


def in_user_namespace(spec: Mapping, config: Mapping) -> bool:
    """hostUsers: false, judged at a version whose standard relaxes for it."""
    version = config.get("kubernetesVersion") or DEFAULT_KUBERNETES_VERSION
    return spec.get("hostUsers") is False and parse_version(version) >= USER_NAMESPACE_RELAXATION


@pod_rule("pss-proc-mount", "Containers use the Default /proc mount, unless the pod has its own user namespace "
          "from 1.35 (PSS Baseline).", Severity.HIGH, "Remove securityContext.procMount or set it to Default.",
          settings=KUBERNETES_VERSION_SETTING, frameworks=[pss_baseline("/proc Mount Type")])
def proc_mount(spec, metadata, config):
    if not in_user_namespace(spec, config):
        yield from _unmasked_proc(spec)


@pod_rule("pss-restricted-proc-mount", "Containers use the Default /proc mount, in a user namespace too "
          "(PSS Restricted).", Severity.HIGH, "Remove securityContext.procMount or set it to Default.",
          exemptible=True, frameworks=[pss_restricted("/proc Mount Type")])
def restricted_proc_mount(spec, metadata):
    yield from _unmasked_proc(spec)


def parse_version(version: str) -> tuple[int, int]:
    major, minor = re.match(r"^v?(\d+)\.(\d+)", str(version)).groups()
    return int(major), int(minor)


def safe_sysctls(version: str) -> frozenset[str]:
    target = parse_version(version)
    return frozenset().union(*(names for since, names in SAFE_SYSCTLS_SINCE.items() if since <= target))


@pod_rule("pss-sysctls", "Pods set only the sysctls that are safe for the target Kubernetes version (PSS Baseline).",
          Severity.HIGH, "Remove securityContext.sysctls outside the safe set, or raise kubernetesVersion in the "
          "rule's config to the cluster's version.", settings=KUBERNETES_VERSION_SETTING,
          frameworks=[pss_baseline("Sysctls")])
def sysctls(spec, metadata, config):
    version = config.get("kubernetesVersion") or DEFAULT_KUBERNETES_VERSION
    allowed = safe_sysctls(version)
    for entry in get(spec, "securityContext", "sysctls") or []:
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if name not in allowed:
            yield f"the pod sets sysctl {name}, not safe at Kubernetes {version}."


@pod_rule("pss-baseline-capabilities", "Containers add no capability beyond the runtime's default set (PSS Baseline).",
          Severity.HIGH, "Remove capabilities.add entries outside AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, "
          "KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT.",
          frameworks=[pss_baseline("Capabilities")])
def baseline_capabilities(spec, metadata):
    for label, container in containers(spec):
        added = [c for c in get(container, "securityContext", "capabilities", "add") or []
                 if c not in DEFAULT_CAPABILITIES]
        if added:
            yield f"{label} adds capabilities {added}, beyond the default set."


@pod_rule("pss-baseline-seccomp", "No pod or container sets an Unconfined seccomp profile (PSS Baseline).",
          Severity.HIGH, "Set seccompProfile.type RuntimeDefault (or Localhost), or leave it unset.",
          frameworks=[pss_baseline("Seccomp")])
def baseline_seccomp(spec, metadata):
    yield from _profile_types_outside(spec, "seccompProfile", SECCOMP_TYPES)


# -- Restricted ------------------------------------------------------------------------------

@pod_rule("pss-allow-privilege-escalation", "Every container sets allowPrivilegeEscalation: false (PSS Restricted).",
          Severity.HIGH, "Set securityContext.allowPrivilegeEscalation: false on every container.",
          exemptible=True, linux_only=True, frameworks=[pss_restricted("Privilege Escalation"), cis_eks("4.2.5")])
def privilege_escalation(spec, metadata):
    for label, container in containers(spec):
        if get(container, "securityContext", "allowPrivilegeEscalation") is not False:
            yield f"{label} does not set allowPrivilegeEscalation: false."


@pod_rule("pss-run-as-non-root", "Containers must run as non-root (PSS Restricted).", Severity.HIGH,
          "Set runAsNonRoot: true on the pod (or every container), never runAsNonRoot: false, never runAsUser: 0 "
          "(from 1.35 a pod with hostUsers: false is exempt).", exemptible=True, settings=KUBERNETES_VERSION_SETTING,
          frameworks=[pss_restricted("Running as Non-root"), pss_restricted("Running as Non-root user"),
                      nsa_cisa("Non-root containers")])
def run_as_non_root(spec, metadata, config):
    if in_user_namespace(spec, config):
        return
    pod_level = get(spec, "securityContext", "runAsNonRoot")
    if pod_level is False:
        # Refused whatever the containers say: the admission code judges the pod's own field.
        yield "the pod sets runAsNonRoot: false."
    for label, container in containers(spec):
        own = get(container, "securityContext", "runAsNonRoot")
        if own is False or (own is None and pod_level is not True):
            yield f"{label} may run as root (runAsNonRoot is not true)."
    for where, context in _contexts(spec):
        if get(context, "runAsUser") == 0:
            yield f"{where} sets runAsUser: 0."


@pod_rule("pss-capabilities", "Containers drop ALL capabilities and add none but NET_BIND_SERVICE (PSS Restricted).",
          Severity.HIGH, "Set securityContext.capabilities.drop: [ALL]; add only NET_BIND_SERVICE if needed.",
          exemptible=True, linux_only=True, frameworks=[pss_restricted("Capabilities")])
def capabilities(spec, metadata):
    for label, container in containers(spec):
        caps = get(container, "securityContext", "capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):  # case-sensitive, as the standard says
            yield f"{label} does not drop ALL capabilities."
        extra = [c for c in caps.get("add") or [] if c != "NET_BIND_SERVICE"]
        if extra:
            yield f"{label} adds capabilities {extra}."


@pod_rule("pss-seccomp", "Pods use the RuntimeDefault or a Localhost seccomp profile (PSS Restricted).",
          Severity.MEDIUM, "Set securityContext.seccompProfile.type: RuntimeDefault on the pod.",
          exemptible=True, linux_only=True, frameworks=[pss_restricted("Seccomp")])
def seccomp(spec, metadata):
    pod_type = get(spec, "securityContext", "seccompProfile", "type")
    if pod_type is not None and pod_type not in SECCOMP_TYPES:
        yield f"the pod has seccomp profile {pod_type}."
    for label, container in containers(spec):
        own = get(container, "securityContext", "seccompProfile", "type")
        if own is not None and own not in SECCOMP_TYPES:
            yield f"{label} has seccomp profile {own}."
        elif own is None and pod_type is None:
            yield f"{label} has no seccomp profile (set one on the pod or the container)."


@pod_rule("pss-host-process", "No Windows HostProcess containers (PSS Baseline).", Severity.CRITICAL,
          "Remove windowsOptions.hostProcess.", frameworks=[pss_baseline("HostProcess")])
def host_process(spec, metadata):
    for where, context in _contexts(spec):
        if get(context, "windowsOptions", "hostProcess") is True:
            yield f"{where} is a HostProcess container."


@pod_rule("pss-volume-types", "Pods use only the volume types the Restricted standard allows.", Severity.HIGH,
          "Use configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected or secret.",
          exemptible=True, frameworks=[pss_restricted("Volume Types")])
def volume_types(spec, metadata):
    for volume in volumes(spec):
        sources = set(volume) - {"name"}
        refused = sorted(sources - RESTRICTED_VOLUME_SOURCES)
        if refused:
            yield f"volume {volume.get('name', '?')} is of type {', '.join(refused)}."


# The kubelet checks runAsNonRoot against runAsUser (else the image's USER) only; runAsGroup
# plays no part, so a chart pod without one still starts. The platform's own pods name a group
# too (tests/test_observability.py holds the shipped plans to it).
@pod_rule("run-as-non-root-needs-numeric-user",
          "A container that must run as non-root names a numeric runAsUser.", Severity.HIGH,
          "Set securityContext.runAsUser to a non-zero number on the pod (or the container): the kubelet "
          "cannot verify runAsNonRoot for an image whose USER is a name and refuses to start it.",
          frameworks=[PLATFORM])
def non_root_numeric_user(spec, metadata):
    pod = spec.get("securityContext")
    for label, container in containers(spec):
        own = container.get("securityContext")

        def effective(field: str):
            value = get(own, field)
            return get(pod, field) if value is None else value

        if effective("runAsNonRoot") is not True:
            continue
        value = effective("runAsUser")
        # A real run hands numbers over as floats (65532.0); a bool is no user id.
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            yield f"{label} sets runAsNonRoot but no numeric runAsUser (the kubelet refuses a named image user)."


# -- beyond the standard ---------------------------------------------------------------------

@pod_rule("read-only-root-filesystem", "Every container's root filesystem is read-only.", Severity.MEDIUM,
          "Set securityContext.readOnlyRootFilesystem: true; mount an emptyDir where the app writes.",
          exemptible=True, linux_only=True, frameworks=[nsa_cisa("Immutable container file systems")])
def read_only_root(spec, metadata):
    for label, container in containers(spec):
        if get(container, "securityContext", "readOnlyRootFilesystem") is not True:
            yield f"{label} has a writable root filesystem."


@resource_rule("namespace-not-privileged", "No Namespace sets Pod Security enforce: privileged.", Severity.HIGH,
               "Enforce restricted (or baseline); exempt a platform namespace by name if it must run host agents.",
               exemptible=True, frameworks=[PLATFORM])
def namespace_not_privileged(args, report_violation):
    if kind_of(args.resource_type) != "Namespace":
        return
    if (get(args.props, "metadata", "labels") or {}).get("pod-security.kubernetes.io/enforce") == "privileged":
        report_violation("The namespace enforces the privileged Pod Security level (no restriction at all).")
