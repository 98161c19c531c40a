"""How fast the offline gate is: `check --stack prod` in seconds, with the readiness checks
(admission, reachability, ordering, chart contents) and without them (`--no-readiness`), and
`check --manifests` in manifests per second over a generated folder of 1,000 manifests.

Not a test (timings depend on the machine); run it with `make bench` and compare with the
targets: under 3 s, readiness within 1.3x of the pack alone, and over 500 manifests/s on a
2-core machine.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Service", "Ingress", "Role", "ConfigMap",
         "NetworkPolicy")


def container(i: int) -> dict:
    return {"name": f"app{i}", "image": f"registry.example.com:5000/team/app{i}:1.{i}.0",
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": i % 7 != 0,
                                "capabilities": {"drop": ["ALL"]}},
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
            "env": [{"name": "LOG_LEVEL", "value": "info"}]}


def manifest(i: int) -> dict:
    kind = KINDS[i % len(KINDS)]
    meta = {"name": f"obj-{i}", "namespace": f"team-{i % 20}", "labels": {"app": f"obj-{i}"}}
    pod = {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
           "containers": [container(i)], "initContainers": [dict(container(i), name="init")]}
    template = {"metadata": {"labels": {"app": f"obj-{i}"}}, "spec": pod}
    if kind in ("Deployment", "StatefulSet", "DaemonSet"):
        api = "apps/v1"
        body = {"spec": {"replicas": 2, "selector": {"matchLabels": {"app": f"obj-{i}"}}, "template": template}}
    elif kind == "Job":
        api, body = "batch/v1", {"spec": {"template": template}}
    elif kind == "CronJob":
        api, body = "batch/v1", {"spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}}}
    elif kind == "Service":
        api, body = "v1", {"spec": {"type": "ClusterIP", "ports": [{"port": 80}]}}
    elif kind == "Ingress":
        api, body = "networking.k8s.io/v1", {"spec": {"rules": [{"host": f"h{i}.example.com"}],
                                                      "tls": [{"hosts": [f"h{i}.example.com"]}]}}
    elif kind == "Role":
        api = "rbac.authorization.k8s.io/v1"
        body = {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}
    elif kind == "NetworkPolicy":
        api, body = "networking.k8s.io/v1", {"spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}
    else:
        api, body = "v1", {"data": {"key": "value"}}
    return {"apiVersion": api, "kind": kind, "metadata": meta, **body}


def generate(folder: Path, count: int) -> None:
    # Several documents per file, as real repositories have them.
    per_file = 10
    for start in range(0, count, per_file):
        docs = [manifest(i) for i in range(start, min(start + per_file, count))]
        (folder / f"batch-{start // per_file:04d}.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))


def timed(*args: str) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "preflight", "check", *args], cwd=ROOT,
                            capture_output=True, text=True)
    return time.perf_counter() - start, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5, help="best of N runs")
    options = parser.parse_args()

    # Alternate the two so a busy machine slows both alike; the best of N is the cost itself.
    variants = (("without readiness", ("--no-readiness",)), ("with readiness", ()))
    times: dict[str, list[float]] = {label: [] for label, _ in variants}
    for _ in range(options.runs):
        for label, extra in variants:
            seconds, result = timed("--stack", "prod", *extra)
            if result.returncode not in (0, 1):
                print(result.stderr, file=sys.stderr)
                return 2
            times[label].append(seconds)
    best = {label: min(values) for label, values in times.items()}
    for label, _ in variants:
        print(f"check --stack prod {label}: {best[label]:.2f} s (best of {options.runs}; target < 3 s)")
    ratio = best["with readiness"] / best["without readiness"]
    charts = "helm on PATH" if shutil.which("helm") else "helm not on PATH: chart contents not rendered"
    print(f"  readiness costs {ratio:.2f}x the pack alone (target <= 1.3x; {charts})")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        generate(folder, options.manifests)
        manifest_times = []
        for _ in range(options.runs):
            seconds, result = timed("--manifests", str(folder))
            if result.returncode not in (0, 1):
                print(result.stderr, file=sys.stderr)
                return 2
            manifest_times.append(seconds)
        best = min(manifest_times)
        print(f"check --manifests ({options.manifests} manifests): {best:.2f} s, "
              f"{options.manifests / best:.0f} manifests/s (best of {options.runs}; target > 500/s)")
        print(f"  last run: {result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
