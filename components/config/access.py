"""Who may use the cluster: the principals the stack config grants access to, the checks EKS's
one-entry-per-principal rule and pulumi-eks's implicit creator entry call for, and the example
values (documentation account, RFC 5737 networks) that must not reach a real `pulumi up`."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from .base import sections
from .issues import ConfigIssue, key_path

if TYPE_CHECKING:
    from .stack import StackConfig


def principal_grants(config: StackConfig) -> list[tuple[str, str]]:
    """(where, arn) for every IAM principal given access to the cluster, in stack-file order."""
    cluster = config.cluster
    grants = [(f"cluster.{key}[{i}]", arn) for key in ("admins", "deployers", "previewers")
              for i, arn in enumerate(getattr(cluster, key))]
    grants += [(f"teams[{t}].access.{level}[{i}]", arn) for t, team in enumerate(config.teams)
               for level in ("admin", "developer", "viewer") for i, arn in enumerate(getattr(team.access, level))]
    return grants


def access_issues(config: StackConfig) -> list[ConfigIssue]:
    # EKS allows one access entry per IAM principal and cluster: a principal holds one role, and
    # the creator already holds the entry pulumi-eks bootstraps for it (always cluster-admin).
    issues: list[ConfigIssue] = []
    creator = config.cluster.creator
    holders: dict[str, str] = {}
    for where, arn in principal_grants(config):
        if arn == creator:
            issues.append(ConfigIssue(where, f"{arn} is cluster.creator: EKS gave it a cluster-admin access "
                                             "entry when it created the cluster and allows one access entry "
                                             "per principal (a second fails with 409); remove it here"))
        elif arn in holders:
            issues.append(ConfigIssue(where, f"{arn} already has access through {holders[arn]}; "
                                             "EKS allows one access entry per principal, keep one"))
        else:
            holders[arn] = where
    return issues


def endpoint_network_issues(config: StackConfig) -> list[ConfigIssue]:
    """A private endpoint answers only the networks in privateAccessCidrs (the cluster security
    group's 443 rules): without one, no runner or person can reach the API."""
    issues: list[ConfigIssue] = []
    endpoint = config.cluster.endpoint
    if not endpoint.public_access and not endpoint.private_access_cidrs:
        issues.append(ConfigIssue(
            "cluster.endpoint.privateAccessCidrs",
            "the API endpoint is private (publicAccess: false) and no network may reach it, so no "
            "`pulumi up` can: list the subnets of your deploy runners (self-hosted or CodeBuild runners "
            "in or peered with the VPC) and your VPN, e.g. [10.255.0.0/24]",
        ))
    if any(cidr.endswith("/0") for cidr in endpoint.private_access_cidrs):
        issues.append(ConfigIssue(
            "cluster.endpoint.privateAccessCidrs",
            "0.0.0.0/0 opens the API to every network routed into the VPC; list the runner and VPN subnets",
        ))
    return issues


# The account AWS's documentation and this repository's examples use, and RFC 5737's address
# blocks: a stack still holding them was never filled in. EKS refuses access entries for
# principals that do not exist, and an endpoint open only to TEST-NET locks everyone out.
DOCUMENTATION_ACCOUNTS = frozenset({"123456789012", "111122223333", "444455556666"})
DOCUMENTATION_NETWORKS = tuple(ipaddress.ip_network(block) for block in
                               ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))


def _account_of(arn: str) -> str:
    return arn.split(":")[4]


def placeholder_issues(config: StackConfig, stack: str | None = None) -> list[ConfigIssue]:
    """Example values left in a stack: fine for `make plan`, fatal for `pulumi up`. `stack`
    goes into the commands that replace example secrets."""
    from .plaintext import example_secret_paths, set_secret_command  # plaintext imports stack, which imports this

    issues: list[ConfigIssue] = []
    principals = principal_grants(config)
    if config.cluster.creator:
        principals.append(("cluster.creator", config.cluster.creator))
    for t, team in enumerate(config.teams):
        for a, app in enumerate(team.apps):
            principals += [(f"teams[{t}].apps[{a}].{key}[{i}]", arn)
                           for key, arns in (("irsaPolicyArns", app.irsa_policy_arns),
                                             ("awsPolicyArns", app.aws_policy_arns))
                           for i, arn in enumerate(arns)]
            # `.invalid` never resolves (RFC 2606); import-compose writes it where a host is still to be named.
            if app.host and app.host.endswith(".invalid"):
                issues.append(ConfigIssue(f"teams[{t}].apps[{a}].host", f"{app.host} is a placeholder no DNS "
                                          "resolves and no certificate can be issued for; put the app's real host"))
    for where, arn in principals:
        if _account_of(arn) in DOCUMENTATION_ACCOUNTS:
            issues.append(ConfigIssue(where, f"{arn} is in the documentation account {_account_of(arn)}; "
                                             "put your own account's role or user here"))
    endpoint = config.cluster.endpoint
    for key, cidrs in (("publicAccessCidrs", endpoint.public_access_cidrs),
                       ("privateAccessCidrs", endpoint.private_access_cidrs)):
        for i, cidr in enumerate(cidrs):
            if any(ipaddress.ip_network(cidr).overlaps(block) for block in DOCUMENTATION_NETWORKS):
                issues.append(ConfigIssue(f"cluster.endpoint.{key}[{i}]",
                                          f"{cidr} is a documentation range (RFC 5737) nobody connects from; "
                                          "put your runners' and VPN's networks here"))
    for path in example_secret_paths(config):
        where = key_path(path)
        issues.append(ConfigIssue(where, "is an example `secure:` value, no ciphertext any secrets provider can "
                                         "decrypt (`pulumi up` stops reading the config there); set the real one: "
                                         f"{set_secret_command(where, stack)}"))
    for path, section in sections(config):
        issues += section.placeholder_issues(path)
    return issues


def _principal_identity(arn: str) -> tuple[str, str, str]:
    """(account, 'role' | 'user', name) of an IAM role/user ARN or of an STS assumed-role ARN."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return ("", "", arn)
    account, resource = parts[4], parts[5]
    if resource.startswith("assumed-role/"):
        return (account, "role", resource.split("/")[1])
    kind, _, path_and_name = resource.partition("/")
    return (account, kind, path_and_name.rsplit("/", 1)[-1])


def caller_access_issues(config: StackConfig, caller_arn: str) -> list[ConfigIssue]:
    """Whether the principal running `pulumi up` will be let into the cluster it deploys to.

    Only decidable once cluster.creator is stated: then the caller must be the creator or hold
    cluster-admin through admins or deployers, or the update would create the AWS resources and
    then be refused by the Kubernetes API halfway through.
    """
    cluster = config.cluster
    if cluster.creator is None:
        return []
    caller = _principal_identity(caller_arn)
    admins = [cluster.creator, *cluster.admins, *cluster.deployers]
    if any(_principal_identity(arn) == caller for arn in admins):
        return []
    return [ConfigIssue("cluster.deployers", (
        f"`pulumi up` runs as {caller_arn}, which is neither cluster.creator ({cluster.creator}) nor in "
        "cluster.admins or cluster.deployers, so the Kubernetes API would refuse it halfway through the "
        "update; list its role in cluster.deployers (or, if it creates the cluster, set cluster.creator)"))]
