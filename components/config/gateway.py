"""What the shared Gateway needs of the stack config: apps on `route: httproute` need it on,
and every app host becomes one of its listeners, of which a Gateway holds a bounded number."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .issues import ConfigIssue

if TYPE_CHECKING:
    from .stack import StackConfig

# The Gateway API's Gateway CRD (v1): spec.listeners has maxItems 64; the API server refuses more.
MAX_LISTENERS = 64


def gateway_host_count(config: "StackConfig") -> int:
    """Listeners the shared Gateway gets: one per app host."""
    return sum(1 for team in config.teams for app in team.apps if app.host)


def gateway_issues(config: "StackConfig") -> list[ConfigIssue]:
    issues = []
    enabled = config.ingress.gateway.enabled
    for t, team in enumerate(config.teams):
        for a, app in enumerate(team.apps):
            if app.route != "httproute":
                continue
            where = f"teams[{t}].apps[{a}].route"
            if not app.host:
                issues.append(ConfigIssue(where, "is httproute but the app has no host to route; set host "
                                                 "(e.g. shop.example.com) or remove route"))
            elif not enabled:
                issues.append(ConfigIssue(where, (
                    "is httproute but there is no Gateway to attach to: set ingress.gateway.enabled: true "
                    "(the platform's shared Gateway), or route: ingress")))
    hosts = gateway_host_count(config)
    if enabled and hosts > MAX_LISTENERS:
        issues.append(ConfigIssue("ingress.gateway.enabled", (
            f"the shared Gateway gets one HTTPS listener per app host, and a Gateway holds at most "
            f"{MAX_LISTENERS}; this stack has {hosts} app hosts. Serve at most {MAX_LISTENERS} hosts from "
            f"this stack, or leave ingress.gateway off (Ingresses have no such limit)")))
    return issues
