"""Names and tags derived once from the stack config, so every layer agrees on them."""

from __future__ import annotations

from components.config import PROJECT, StackConfig


def cluster_name(config: StackConfig) -> str:
    return f"{PROJECT}-{config.environment}"


def common_tags(config: StackConfig) -> dict[str, str]:
    return {
        "eks-platform/environment": config.environment,
        "eks-platform/cluster": cluster_name(config),
        "managed-by": "pulumi",
    }


def iam_key(arn: str) -> str:
    """A stable, readable resource-name part for an IAM role, user or policy ARN:
    'role-platform-admin-123456789012', 'policy-AmazonS3ReadOnlyAccess-aws'.

    Children keyed by it (access entries, policy attachments) survive the removal of their
    neighbours, which list indexes do not. Names are unique per account and kind whatever their
    path, so kind, name and account identify the ARN; none contains ':' (which would break the
    URN), and the result stays short (names are at most 128 characters).
    """
    _, _, _, _, account, resource = arn.split(":", 5)
    kind, _, path_and_name = resource.partition("/")
    return f"{kind}-{path_and_name.rsplit('/', 1)[-1]}-{account}"
