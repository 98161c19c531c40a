"""The CrossGuard pack. Only builds the PolicyPack: its constructor starts the analyzer server
and blocks, so the rules live in importable modules (rules/) that preflight evaluates too."""

from pulumi_policy import EnforcementLevel, PolicyPack

from rules import all_rules

PolicyPack(
    name="eks-platform",
    policies=all_rules(),
    # Per-environment enforcement comes from config/dev.json (advisory) and config/prod.json
    # (mandatory), passed with --policy-pack-config.
    enforcement_level=EnforcementLevel.ADVISORY,
)
