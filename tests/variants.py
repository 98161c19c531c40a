"""The variant stacks: each shipped stack file with the options it leaves off, planned once per
session (conftest's `variants` fixture) instead of once per test that needs one option.

Each edit below says which tests read it. The edits must not contradict one another: a test
that needs the opposite of an edit here (another workloadIdentity, an app without the policies
given here) plans its own variant.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from conftest import ROOT

COMPOSE = ROOT / "tests" / "fixtures" / "compose"

# import-compose --write of a Compose file into each stack (test_import_compose.py): the three
# tiers into dev's existing team, the Swarm stack into a new team of prod, where the gate is mandatory.
# Hosts go below the stack's external-dns zone when it has one (every served host must be).
def _host_domain(stack: str, fallback: str) -> str:
    ingress = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"].get("eks-platform:ingress", {})
    dns = ingress.get("externalDns") or {}
    return dns["domain"] if dns.get("enabled") and dns.get("domain") else fallback


IMPORTS = {
    "dev": (COMPOSE / "three-tier" / "compose.yaml", "shop",
            ["--host", f"web=shop-web.{_host_domain('dev', 'dev.example.com')}"]),
    "prod": (COMPOSE / "swarm" / "stack.yml", "voting",
             ["--host", f"vote=vote.{_host_domain('prod', 'example.com')}",
              "--host", f"result=result.{_host_domain('prod', 'example.com')}", "--storage-gi", "db=50"]),
}

# DNS-01 through Route53 (test_traffic.py).
ROUTE53_ZONE = "Z0123456789ABCDEF"
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
# Two receivers, each credential a `secure:` value (test_observability.py).
RECEIVERS = [{"name": "oncall", "pagerdutyRoutingKey": {"secure": "AAABAOnCiPhErTeXt"}},
             {"name": "slack", "slackChannel": "#alerts", "slackApiUrl": {"secure": "AAABAsLaCk"}}]


def _dev(config: dict) -> None:
    # test_tenancy.py: the backend has a secret, IRSA policies and its API token mounted; the
    # database leaves autoscaling unsaid, runs one replica and keeps its volume.
    shop = next(team for team in config["eks-platform:teams"] if team["name"] == "shop")
    apps = {app["name"]: app for app in shop["apps"]}
    backend, database = apps["backend"], apps["database"]
    backend["secrets"] = {"API_TOKEN": {"secure": "AAABAHNlY3JldA=="}}
    backend["irsaPolicyArns"] = [S3_READ]
    backend["serviceAccountToken"] = True
    database.pop("autoscaling", None)
    database["replicas"] = 1
    database["stateful"]["retainVolume"] = True
    # test_traffic.py: issuers solve DNS-01 through Route53.
    config["eks-platform:certManager"]["route53HostedZoneId"] = ROUTE53_ZONE
    # test_network_iam.py: VPC flow logs turned off.
    config["eks-platform:network"]["flowLogs"] = {"enabled": False}


def _prod(config: dict) -> None:
    # test_observability.py: receivers from config, credentials secret.
    config["eks-platform:monitoring"].update({"receivers": RECEIVERS, "defaultReceiver": "oncall"})
    # test_load_balancer_controller.py: platform roles through IRSA instead of Pod Identity.
    config["eks-platform:workloadIdentity"] = "irsa"
    # test_traffic.py: DNS-01 through Route53 with cert-manager's role on IRSA (dev's is on Pod Identity).
    config["eks-platform:certManager"]["route53HostedZoneId"] = ROUTE53_ZONE


EDITS = {"dev": _dev, "prod": _prod}


def write_variant(stack: str, folder: Path) -> Path:
    """Pulumi.<stack>.yaml in `folder`: the shipped file, a Compose file imported, the edits above."""
    from preflight.__main__ import main

    path = folder / f"Pulumi.{stack}.yaml"
    shutil.copy(ROOT / f"Pulumi.{stack}.yaml", path)
    compose, team, extra = IMPORTS[stack]
    code = main(["import-compose", str(compose), "--team", team, "--stack", stack, "--config", str(path),
                 "--write", *extra])
    assert code == 0, f"import-compose into the {stack} variant exited {code}"
    document = yaml.safe_load(path.read_text())
    EDITS[stack](document["config"])
    path.write_text(yaml.safe_dump(document))
    return path
