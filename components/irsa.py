"""The IAM pieces of IRSA (its trust policy) and of every workload role; `WorkloadRole`
(components/workload_identity.py) puts them together for Pod Identity or IRSA."""

from __future__ import annotations

import json
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.naming import iam_key


def irsa_trust_policy(oidc_provider_arn: str, oidc_issuer: str, namespace: str, service_account: str) -> str:
    """Trust exactly one ServiceAccount through the cluster's OIDC provider.

    Both `sub` and `aud` are pinned: without `sub`, any pod in the cluster could assume the
    role; without `aud`, a token minted for another audience would do.
    """
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": oidc_provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                f"{oidc_issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                f"{oidc_issuer}:aud": "sts.amazonaws.com",
            }},
        }],
    })


def workload_role(name: str, trust: pulumi.Input[str], description: str, managed_policy_arns: list[str],
                  inline_policy: Optional[pulumi.Input[str]], tags: dict[str, str],
                  opts: pulumi.ResourceOptions) -> aws.iam.Role:
    """A workload's IAM role (`<name>-role`) with AWS or customer managed policies and its own policy."""
    role = aws.iam.Role(f"{name}-role", assume_role_policy=trust, description=description, tags=tags, opts=opts)
    # Keyed by policy, not position: with index keys, removing the first policy would replace
    # the second one's attachment, and that replacement detaches the policy it keeps.
    for policy_arn in managed_policy_arns:
        aws.iam.RolePolicyAttachment(f"{name}-attach-{iam_key(policy_arn)}", role=role.name,
                                     policy_arn=policy_arn, opts=opts)
    if inline_policy is not None:
        aws.iam.RolePolicy(f"{name}-policy", role=role.id, policy=inline_policy, opts=opts)
    return role
