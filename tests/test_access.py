"""Who can reach and use the cluster API: access entries by role (admins, deployers,
previewers, teams), keyed by principal; the networks allowed to the private endpoint; and the
documentation account's placeholder principals, which EKS would refuse."""

from __future__ import annotations

import copy
import json
import re

import pytest

from components.cluster import cluster_access_entries
from components.config import StackConfigError, parse_stack_config
from components.config.loader import check_placeholders, creates_resources
from components.config.access import caller_access_issues, placeholder_issues
from components.config.plaintext import EXAMPLE_SECRET_PLACEHOLDER, SECRET_PLACEHOLDER
from components.naming import iam_key
from conftest import ROOT, PlanView
from config_cases import problems, stack_values
from helpers import shipped_secure_values
from preflight.stackfile import read_stack_file

ACCOUNT = "210987654321"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/platform-admin"
DEPLOY = f"arn:aws:iam::{ACCOUNT}:role/ci/eks-platform-deploy"
PREVIEW = f"arn:aws:iam::{ACCOUNT}:role/ci/eks-platform-preview"
PERSON = f"arn:aws:iam::{ACCOUNT}:user/alice"
CLUSTER_ADMIN = "AmazonEKSClusterAdminPolicy"
ADMIN_VIEW = "AmazonEKSAdminViewPolicy"


def real_account(raw: dict) -> dict:
    """A stack config whose principals live in a real-looking account, not the documentation one,
    whose DNS zone is a real-looking one, and whose `secure:` values are real ciphertexts (preflight reads any as SECRET_PLACEHOLDER)."""
    text = json.dumps(raw).replace("123456789012", ACCOUNT).replace(EXAMPLE_SECRET_PLACEHOLDER, SECRET_PLACEHOLDER)
    # The example Route53 zone and its RFC 2606 domain (external-dns), hosts below it included.
    text = text.replace("Z0123456789EXAMPLE", "Z04A1B2C3D4E5F6G7H8I9").replace("example.com", "acme-corp.io")
    for doc_range, real in (("203.0.113.0/24", "100.64.0.0/16"), ("198.51.100.0/24", "100.65.0.0/16")):
        text = text.replace(doc_range, real)
    return json.loads(text)


@pytest.fixture
def dev() -> dict:
    return real_account(copy.deepcopy(stack_values("dev")))


@pytest.fixture
def prod() -> dict:
    return real_account(copy.deepcopy(stack_values("prod")))


def with_access(raw: dict, **cluster) -> dict:
    raw = copy.deepcopy(raw)
    raw["cluster"].update(cluster)
    return raw


# -- finding 3: deployers, previewers, one entry per principal ------------------------------------

def test_deployers_and_previewers_are_config_keys(dev):
    config = parse_stack_config(with_access(dev, admins=[ADMIN], deployers=[DEPLOY], previewers=[PREVIEW]))
    assert (config.cluster.deployers, config.cluster.previewers) == ([DEPLOY], [PREVIEW])


@pytest.mark.parametrize("cluster, teams, where", [
    ({"admins": [ADMIN], "deployers": [ADMIN]}, None, "cluster.deployers[0]"),
    ({"deployers": [DEPLOY], "previewers": [DEPLOY]}, None, "cluster.previewers[0]"),
    ({"deployers": [DEPLOY, DEPLOY]}, None, "cluster.deployers[1]"),
    ({"previewers": [PREVIEW]}, {"viewer": [PREVIEW]}, "teams[0].access.viewer[0]"),
])
def test_a_principal_listed_twice_is_refused(dev, cluster, teams, where):
    raw = with_access(dev, **{"admins": [], **cluster})
    raw["teams"] = [{"name": "shop", "access": teams or {}}]
    found = problems(raw)
    assert any(p.startswith(f"{where}: ") and "one access entry per principal" in p for p in found), found


@pytest.mark.parametrize("key", ["admins", "deployers", "previewers"])
def test_the_creator_may_not_be_listed(dev, key):
    raw = with_access(dev, creator=DEPLOY, **{"admins": [], key: [DEPLOY]})
    found = problems(raw)
    assert any(p.startswith(f"cluster.{key}[0]: ") and "creator" in p for p in found), found


def test_the_creator_in_a_team_is_refused(dev):
    raw = with_access(dev, creator=PERSON)
    raw["teams"] = [{"name": "shop", "access": {"admin": [PERSON]}}]
    assert any(p.startswith("teams[0].access.admin[0]: ") and "creator" in p for p in problems(raw))


def entry_policies(entry) -> dict[str, str]:
    return {name: association.policy_arn.rsplit("/", 1)[-1]
            for name, association in entry.access_policies.items()}


def test_admins_and_deployers_get_cluster_admin_previewers_admin_view(dev):
    config = parse_stack_config(with_access(dev, admins=[ADMIN], deployers=[DEPLOY], previewers=[PREVIEW]))
    entries = cluster_access_entries(config.cluster, "aws")
    by_principal = {entry.principal_arn: entry_policies(entry) for entry in entries.values()}
    assert by_principal == {ADMIN: {"cluster-admin": CLUSTER_ADMIN}, DEPLOY: {"cluster-admin": CLUSTER_ADMIN},
                            PREVIEW: {"admin-view": ADMIN_VIEW}}
    for entry in entries.values():
        association, = entry.access_policies.values()
        assert association.policy_arn.startswith("arn:aws:eks::aws:cluster-access-policy/")


# -- finding 13: children keyed by principal, not by list position ------------------------------

def test_access_entry_keys_survive_removing_a_neighbour(dev):
    others = [f"arn:aws:iam::{ACCOUNT}:role/admin-{n}" for n in range(3)]
    full = parse_stack_config(with_access(dev, admins=others)).cluster
    fewer = parse_stack_config(with_access(dev, admins=[others[0], others[2]])).cluster
    before, after = cluster_access_entries(full, "aws"), cluster_access_entries(fewer, "aws")
    assert set(after) < set(before)
    for key, entry in after.items():
        assert before[key].principal_arn == entry.principal_arn


def test_moving_a_principal_between_roles_keeps_its_entry(dev):
    as_admin = cluster_access_entries(parse_stack_config(with_access(dev, admins=[DEPLOY])).cluster, "aws")
    as_deployer = cluster_access_entries(
        parse_stack_config(with_access(dev, admins=[], deployers=[DEPLOY])).cluster, "aws")
    assert set(as_admin) == set(as_deployer), "a new key would create a second entry for the principal (409)"


@pytest.mark.parametrize("arn, key", [
    ("arn:aws:iam::123456789012:role/platform-admin", "role-platform-admin-123456789012"),
    ("arn:aws:iam::123456789012:role/ci/deploy/eks+deploy@x", "role-eks+deploy@x-123456789012"),
    ("arn:aws-us-gov:iam::123456789012:user/alice", "user-alice-123456789012"),
])
def test_iam_key_is_readable_and_has_no_urn_separator(arn, key):
    assert iam_key(arn) == key and ":" not in key


def test_plans_key_access_entries_by_principal(plans):
    for stack, plan in plans.items():
        config = parse_stack_config(stack_values(stack))
        entries = plan.one("eks:index:Cluster")["inputs"]["accessEntries"]
        listed = config.cluster.admins + config.cluster.deployers + config.cluster.previewers
        assert set(entries) == {iam_key(arn) for arn in listed}
        assert {e["principalArn"] for e in entries.values()} == set(listed)
        # Karpenter's node role has its own EC2_LINUX entry (tests/test_karpenter.py).
        team_entries = [e for e in plan.of_type("aws:eks/accessEntry:AccessEntry") if e["inputs"].get("type") != "EC2_LINUX"]
        assert team_entries
        for entry in team_entries:
            assert entry["name"].endswith("-access-" + iam_key(entry["inputs"]["principalArn"])), entry["name"]


# -- finding 2: networks allowed to the private endpoint ----------------------------------------

def test_a_private_endpoint_needs_a_network_allowed_to_it(prod):
    prod["cluster"]["endpoint"] = {"publicAccess": False}
    found = problems(prod)
    assert any(p.startswith("cluster.endpoint.privateAccessCidrs: ") and "runner" in p for p in found), found


def test_the_private_endpoint_is_not_opened_to_everyone(prod):
    prod["cluster"]["endpoint"] = {"publicAccess": False, "privateAccessCidrs": ["0.0.0.0/0"]}
    assert any(p.startswith("cluster.endpoint.privateAccessCidrs: ") for p in problems(prod))


def test_allowed_networks_open_443_on_the_cluster_security_group(plans):
    for stack, plan in plans.items():
        config = parse_stack_config(stack_values(stack))
        cluster = plan.one("eks:index:Cluster")
        rules = [r for r in plan.of_type("aws:ec2/securityGroupRule:SecurityGroupRule")
                 if r["inputs"].get("type") == "ingress" and r["inputs"]["fromPort"] == 443]
        cidrs = config.cluster.endpoint.private_access_cidrs
        if stack == "prod":
            assert cidrs, "prod's endpoint is private: the stack file must name the runner/VPN networks"
        assert sorted(c for r in rules for c in r["inputs"]["cidrBlocks"]) == sorted(cidrs)
        for rule in rules:
            cidr, = rule["inputs"]["cidrBlocks"]
            assert rule["name"] == f"cluster-api-from-{cidr.replace('.', '-').replace('/', '-')}", "keyed by network"
            assert rule["inputs"]["toPort"] == 443 and rule["inputs"]["protocol"] == "tcp"
            assert rule["inputs"]["securityGroupId"].startswith("sg-")
            assert cluster["urn"] in rule["dependencies"]
        provider = plan.one("pulumi:providers:kubernetes")
        assert {r["urn"] for r in rules} <= set(provider["dependencies"]), "nothing in-cluster before the API opens"


# -- finding 4: placeholder principals of the documentation account -----------------------------

def test_shipped_stacks_are_examples_and_say_so():
    for stack in ("dev", "prod"):
        found = [str(issue) for issue in placeholder_issues(parse_stack_config(stack_values(stack)))]
        assert any("cluster.admins[0]" in p and "123456789012" in p for p in found), found
        assert any(p.startswith("teams[0].access.") for p in found)


def test_dev_public_cidr_in_a_documentation_range_is_a_placeholder():
    found = [str(issue) for issue in placeholder_issues(parse_stack_config(stack_values("dev")))]
    assert any(p.startswith("cluster.endpoint.publicAccessCidrs[0]: ") and "203.0.113.0/24" in p for p in found)


def test_real_principals_are_not_placeholders(dev):
    assert placeholder_issues(parse_stack_config(dev)) == []


def test_placeholders_stop_an_update_and_warn_otherwise():
    config = parse_stack_config(stack_values("prod"))
    with pytest.raises(StackConfigError) as caught:
        check_placeholders(config, "Stack config of 'prod'", creating=True)
    assert "123456789012" in str(caught.value) and "before creating anything" in str(caught.value)
    warning = check_placeholders(config, "Stack config of 'prod'", creating=False)
    assert warning and "123456789012" in warning and "`pulumi up` will refuse" in warning


def test_real_config_passes_the_update_check(prod):
    assert check_placeholders(parse_stack_config(prod), "prod", creating=True) is None


def test_outside_any_pulumi_run_nothing_is_created():
    # preflight runs the program with preview=False under mocks: that must not count as an update.
    assert creates_resources() is False


@pytest.mark.parametrize("monitor, dry_run, creating", [
    ("engine", False, True),     # pulumi up
    ("engine", True, False),     # pulumi preview (and up's own preview phase)
    ("mock", False, False),      # preflight plan/check: preview=False under the mock monitor
])
def test_only_a_real_update_counts_as_creating(monkeypatch, monitor, dry_run, creating):
    from pulumi.runtime import settings
    from pulumi.runtime.mocks import MockMonitor

    fake = MockMonitor.__new__(MockMonitor) if monitor == "mock" else object()
    monkeypatch.setattr(settings, "get_monitor", lambda: fake)
    monkeypatch.setattr(settings, "is_dry_run", lambda: dry_run)
    assert creates_resources() is creating


def test_make_plan_warns_loudly_about_placeholders(plans):
    stderr = plans["dev"].stderr  # the session's `plan --stack dev --json FILE`, as `make plan` runs it
    assert "PLACEHOLDER" in stderr and "arn:aws:iam::123456789012:role/platform-admin" in stderr
    for where in shipped_secure_values("dev"):
        assert f"pulumi config set --stack dev --secret --path '{where}' <value>" in stderr


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_banner_gives_the_command_that_replaces_each_secure_example(stack):
    """No secrets provider decrypts the shipped `secure:` values: `pulumi up` stops at reading
    the config. The banner names each, with the command that sets the real one."""
    examples = shipped_secure_values(stack)
    assert "teams[0].apps[2].secrets.POSTGRES_PASSWORD" in examples
    warning = check_placeholders(parse_stack_config(stack_values(stack)), f"Stack config of '{stack}'",
                                 creating=False, stack=stack)
    for where in examples:
        assert f"  - {where}: " in warning
        assert f"pulumi config set --stack {stack} --secret --path '{where}' <value>" in warning


def test_a_real_ciphertext_is_no_placeholder(tmp_path):
    text = (ROOT / "Pulumi.prod.yaml").read_text()
    text = re.sub(r"secure: \S+", "secure: v1:mUX1Fq0vZt2q8f1c:3T0pQ9J1l0yWq2lq7n0hR2cZx8E=", text)
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(text)
    stack_file = read_stack_file(path)
    config = parse_stack_config(stack_file.project_values, stack="prod", is_secret=stack_file.is_secret)
    assert not [issue for issue in placeholder_issues(config) if "secret" in issue.message]


# -- finding 3: the principal running `pulumi up` must get into the cluster ----------------------

@pytest.mark.parametrize("caller, allowed", [
    (f"arn:aws:sts::{ACCOUNT}:assumed-role/eks-platform-deploy/GitHubActions", True),   # the creator
    (f"arn:aws:sts::{ACCOUNT}:assumed-role/platform-admin/alice", True),               # an admin
    (f"arn:aws:sts::{ACCOUNT}:assumed-role/eks-platform-preview/GitHubActions", False),  # view only
    (f"arn:aws:sts::111111111111:assumed-role/eks-platform-deploy/x", False),           # other account
    (f"arn:aws:iam::{ACCOUNT}:user/alice", False),
])
def test_the_deploying_principal_must_hold_cluster_admin(dev, caller, allowed):
    raw = with_access(dev, creator=f"arn:aws:iam::{ACCOUNT}:role/ci/eks-platform-deploy", admins=[ADMIN],
                      previewers=[PREVIEW])
    found = caller_access_issues(parse_stack_config(raw), caller)
    assert (found == []) is allowed
    if not allowed:
        assert found[0].path == "cluster.deployers" and caller in found[0].message


def test_a_person_created_cluster_needs_the_ci_role_in_deployers(dev):
    ci = f"arn:aws:sts::{ACCOUNT}:assumed-role/eks-platform-deploy/GitHubActions"
    raw = with_access(dev, creator=PERSON, admins=[ADMIN])
    assert caller_access_issues(parse_stack_config(raw), ci)
    raw = with_access(dev, creator=PERSON, admins=[ADMIN], deployers=[DEPLOY])
    assert caller_access_issues(parse_stack_config(raw), ci) == []
