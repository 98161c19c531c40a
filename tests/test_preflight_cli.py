"""preflight's contract: the plan tree and JSON format, exit codes 0 / 1 / 2 / 3 for every
command, `render --out` safety, and what `check --manifests` reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, run_preflight
from helpers import assert_bad_input

JSON_KEYS = {"urn", "type", "name", "parent", "custom", "protect", "provider", "dependencies", "inputs", "secretPaths",
             "aliases"}


def test_plan_prints_a_tree_with_counts(plans):
    out = plans["prod"].stdout  # the session's `plan --stack prod --json FILE`
    assert "pulumi:pulumi:Stack" in out and "eks-platform-prod" in out
    assert "└─ eks:index:Cluster" in out and "cluster-eks [protect]" in out
    assert "to create" in out and "By type:" in out
    assert "kubeconfig: [secret]" in out


def test_plan_json_has_the_documented_shape(plans):
    data = plans["prod"].data
    assert data["stack"] == "prod"
    for resource in data["resources"]:
        assert set(resource) == JSON_KEYS
    cluster = plans["prod"].one("eks:index:Cluster")
    # camelCase wire names, exactly as the engine receives them
    assert "enabledClusterLogTypes" in cluster["inputs"] and "enabled_cluster_log_types" not in cluster["inputs"]
    assert cluster["parent"] == plans["prod"].one("eks-platform:cluster:Cluster")["urn"]
    assert cluster["custom"] is False and cluster["protect"] is True
    # dependencies are URNs of resources in the same plan
    assert cluster["dependencies"] and all(dep in plans["prod"].by_urn for dep in cluster["dependencies"])


def test_resource_references_are_recorded_as_urns(plans):
    node_group = plans["dev"].one("eks:index:ManagedNodeGroup", "nodes-system-a")
    assert node_group["inputs"]["cluster"] == plans["dev"].one("eks:index:Cluster")["urn"]


def test_aliases_are_recorded_as_the_urns_the_engine_resolves(monkeypatch):
    from pulumi.runtime.proto import alias_pb2, resource_pb2

    from preflight import monitor

    monkeypatch.setattr(monitor, "get_stack", lambda: "prod")
    monkeypatch.setattr(monitor, "get_project", lambda: "p")
    component = "urn:pulumi:prod::p::pulumi:pulumi:Stack$my:mod:Box::box"  # the mock's top-level URN
    request = resource_pb2.RegisterResourceRequest(
        type="my:mod:Thing", name="box-thing", parent=component, aliases=[
            alias_pb2.Alias(spec=alias_pb2.Alias.Spec(type="my:old:Thing", parentUrn="")),  # current parent
            alias_pb2.Alias(spec=alias_pb2.Alias.Spec(name="thing", noParent=True)),
            alias_pb2.Alias(spec=alias_pb2.Alias.Spec(name="old-thing", project="q",
                                                      parentUrn="urn:pulumi:prod::q::my:mod:Old::old")),
            alias_pb2.Alias(urn="urn:pulumi:dev::p::my:mod:Thing::as-given")])
    assert monitor.alias_urns(request) == sorted([
        "urn:pulumi:prod::p::my:mod:Box$my:old:Thing::box-thing",
        "urn:pulumi:prod::p::my:mod:Thing::thing",
        "urn:pulumi:prod::q::my:mod:Old$my:mod:Thing::old-thing",
        "urn:pulumi:dev::p::my:mod:Thing::as-given"])


def test_bad_config_exits_2_without_traceback(tmp_path):
    text = (ROOT / "Pulumi.dev.yaml").read_text().replace("azCount: 2", "azCount: -1")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    result = run_preflight("plan", "--stack", "dev", "--config", str(bad))
    assert result.returncode == 2
    assert "network.azCount: must be greater than or equal to 2 (given -1)" in result.stderr
    assert "Traceback" not in result.stderr


def test_broken_yaml_exits_2(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("config:\n  eks-platform:environment: [dev\n")
    result = run_preflight("plan", "--stack", "dev", "--config", str(bad))
    assert result.returncode == 2 and "broken YAML at line" in result.stderr


def test_usage_error_exits_2():
    assert run_preflight("plan").returncode == 2
    assert run_preflight("launch", "--stack", "dev").returncode == 2


def test_missing_stack_file_exits_2():
    result = run_preflight("plan", "--stack", "staging")
    assert result.returncode == 2 and "Pulumi.staging.yaml" in result.stderr


def test_program_failure_exits_1_with_the_error():
    # An invoke the mocks cannot answer makes the program fail the way a provider error would.
    code = (
        "import sys; from preflight import mocks, __main__ as cli\n"
        "def fail(self, args): raise RuntimeError('availability zones unavailable')\n"
        "mocks.PlatformMocks.call = fail\n"
        "sys.exit(cli.main(['plan', '--stack', 'dev']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "the Pulumi program failed" in result.stderr
    assert "availability zones unavailable" in result.stderr


# -- The exit-code contract for every command ------------------------------------------------

FIXTURES = ROOT / "tests" / "fixtures" / "manifests"
NOT_UTF8 = b"config:\n  eks-platform:environment: d\xe9v\n"


def test_invalid_utf8_stack_file_exits_2_naming_it(tmp_path):
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(NOT_UTF8)
    assert_bad_input(run_preflight("plan", "--stack", "dev", "--config", str(bad)), bad, "not UTF-8")


def test_a_folder_given_as_config_exits_2(tmp_path):
    assert_bad_input(run_preflight("plan", "--stack", "dev", "--config", str(tmp_path)), tmp_path, "is a folder")


@pytest.mark.parametrize("command", [["plan", "--stack", "dev"], ["check", "--manifests", str(FIXTURES / "mixed")]])
def test_json_into_a_missing_folder_exits_2_before_any_work(tmp_path, command):
    target = tmp_path / "missing" / "out.json"
    result = run_preflight(*command, "--json", str(target))
    assert_bad_input(result, target, "does not exist")
    assert result.stdout == ""  # refused before planning or checking


def test_json_under_a_file_exits_2(tmp_path):
    (tmp_path / "file").write_text("x")
    target = tmp_path / "file" / "out.json"
    assert_bad_input(run_preflight("check", "--manifests", str(FIXTURES / "mixed"), "--json", str(target)), target)


def read_only_folder(tmp_path: Path) -> Path:
    """A folder this process cannot write into: chmod 500, or for root (which ignores modes)
    sysfs, which refuses new files to everyone."""
    if os.geteuid() != 0:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o500)
        return folder
    try:
        (Path("/sys") / "preflight-probe.json").write_text("x")
    except OSError:
        return Path("/sys")
    pytest.skip("running as root with a writable /sys: no read-only folder to try")


def test_json_into_a_read_only_folder_exits_2(tmp_path):
    folder = read_only_folder(tmp_path)
    try:
        result = run_preflight("check", "--manifests", str(FIXTURES / "mixed"), "--json", str(folder / "r.json"))
    finally:
        if folder.is_relative_to(tmp_path):
            folder.chmod(0o700)
    assert_bad_input(result, folder / "r.json", "permission denied")


def policy_config(tmp_path, config) -> Path:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(config))
    return path


def check_manifests_with(path: Path):
    return run_preflight("check", "--manifests", str(FIXTURES / "mixed"), "--policy-config", str(path))


@pytest.mark.parametrize("config, problem", [
    ({"all": "strict"}, "all: 'strict' is not an enforcement level"),
    ({"pss-privileged": "warn"}, "pss-privileged: 'warn' is not an enforcement level"),
    ({"pss-privileged": {"enforcementLevel": "blocking"}}, "pss-privileged.enforcementLevel: 'blocking'"),
    ({"pss-volume-types": {"exemptions": [{"namespace": "logging"}]}}, "exemptions[0]: missing 'reason'"),
    ({"pss-volume-types": {"exemptions": [{"reason": "agents"}]}}, "exemptions[0]: missing 'namespace'"),
    ({"pss-volume-types": {"exemptions": [{"namespace": "logging", "reason": " "}]}}, "reason: must not be empty"),
    ({"pss-volume-types": {"exemptions": "logging"}}, "pss-volume-types.exemptions: must be an array"),
    ({"pss-volume-types": {"exemptions": [{"namespace": 7, "reason": "r"}]}}, "namespace: must be a string"),
    ({"pss-privileged": {"exemptions": []}}, "pss-privileged.exemptions: unknown setting for this rule"),
    ({"pss-sysctls": {"kubernetesVersion": "latest"}}, "'latest' is not of the form a Kubernetes minor version"),
    ({"pss-privileged": 1}, "pss-privileged: give an enforcement level"),
    (["all", "mandatory"], "a JSON object of rule names, not a list"),
    ({"no-such-rule": "advisory"}, "no-such-rule: unknown policy"),
])
def test_a_malformed_policy_config_exits_2_naming_the_problem(tmp_path, config, problem):
    path = policy_config(tmp_path, config)
    assert_bad_input(check_manifests_with(path), path, problem)


def test_every_policy_config_problem_is_listed_at_once(tmp_path):
    path = policy_config(tmp_path, {"all": "strict", "pss-volume-types": {"exemptions": [{"namespace": "x"}]}})
    assert_bad_input(check_manifests_with(path), "2 problems", "all:", "missing 'reason'")


def test_the_shipped_policy_configs_are_valid():
    from preflight.check import load_policy_config

    for env in ("dev", "prod"):
        load_policy_config(ROOT / "policies" / "config" / f"{env}.json")


def test_unreadable_policy_configs_exit_2(tmp_path):
    assert_bad_input(check_manifests_with(tmp_path), tmp_path, "is a folder")
    latin1 = tmp_path / "latin1.json"
    latin1.write_bytes(b'{"all": "mandatory", "x": "\xe9"}')
    assert_bad_input(check_manifests_with(latin1), latin1, "not UTF-8")


def test_render_refuses_a_folder_it_did_not_create(tmp_path, plans):
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: mine\n")
    (project / "deployment.yaml").write_text("kind: Deployment\n")
    result = run_preflight("render", "--plan", str(plans["dev"].path), "--out", str(project))
    assert_bad_input(result, project, "refusing to render into a folder render did not create", "Pulumi.yaml")
    assert sorted(p.name for p in project.iterdir()) == ["Pulumi.yaml", "deployment.yaml"]
    assert_bad_input(run_preflight("render", "--plan", str(plans["dev"].path), "--out", str(project / "Pulumi.yaml")),
                     "is a file")


def test_render_reuses_only_its_own_folder(tmp_path, plans):
    plan = str(plans["dev"].path)
    out = tmp_path / "manifests"
    assert run_preflight("render", "--plan", plan, "--out", str(out)).returncode == 0
    first = sorted(p.name for p in out.glob("*.yaml"))
    assert first and sorted((out / ".preflight-render").read_text().split()) == first
    (out / "notes.txt").write_text("mine")  # a file render did not write is left alone
    stale = out / first[0]
    stale.write_text("stale")
    result = run_preflight("render", "--plan", plan, "--out", str(out))
    assert result.returncode == 0, result.stderr
    second = sorted(p.name for p in out.glob("*.yaml"))
    # Only this render's files remain (names carry an index, so the set may differ in order).
    assert len(second) == len(first) and sorted((out / ".preflight-render").read_text().split()) == second
    assert not stale.exists() or stale.read_text() != "stale"
    assert (out / "notes.txt").read_text() == "mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_preflight("render", "--plan", plan, "--out", str(empty)).returncode == 0


INTERNAL_ERROR = (
    "import sys; from preflight import check, __main__ as cli\n"
    "def broken(*args, **kwargs): raise KeyError('a bug\\nin preflight')\n"
    "check.evaluate = broken\n"
    "sys.exit(cli.main(sys.argv[1:]))\n"
)


@pytest.mark.parametrize("debug_first", [True, False])
def test_an_internal_error_exits_3_with_one_line_and_debug_shows_the_traceback(debug_first):
    args = ["check", "--manifests", str(FIXTURES / "mixed")]

    def run(*extra):
        return subprocess.run([sys.executable, "-c", INTERNAL_ERROR, *extra], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
    quiet = run(*args)
    assert quiet.returncode == 3
    assert "Traceback" not in quiet.stderr
    line, = [line for line in quiet.stderr.splitlines() if not line.startswith("note: ")]
    assert line.startswith("internal error: KeyError") and "--debug" in line
    loud = run(*(["--debug", *args] if debug_first else [*args, "--debug"]))
    assert loud.returncode == 3 and "Traceback (most recent call last)" in loud.stderr


# -- check --manifests -------------------------------------------------------------------------

def test_check_manifests_reads_every_form_kubernetes_accepts(tmp_path):
    out = tmp_path / "report.json"
    result = run_preflight("check", "--manifests", str(FIXTURES / "mixed"), "--json", str(out))
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(out.read_text())
    # 2 ConfigMaps (.yml) + Service (.json) + List and ConfigMapList (3) + RC and PodTemplate
    # + the CRD with a bare `=` + 3 cluster-scoped objects
    assert report["resources_checked"] == 12
    found = {(v["policy"], v["resource"].split(": ")[1], Path(v["file"]).name) for v in report["violations"]}
    assert found == {
        ("no-external-services", "public", "service.json"),
        ("no-external-services", "node-port", "lists.yaml"),
        ("no-default-namespace", "in-default", "lists.yaml"),
        ("pss-privileged", "legacy", "legacy-workloads.yaml"),
        ("pss-host-namespaces", "debug-template", "legacy-workloads.yaml"),
    }
    skipped, = report["skipped"]
    assert "values.yaml" in skipped and "not a Kubernetes object" in skipped
    assert "values.yaml" in result.stderr and "skipped" in result.stderr


def test_a_crd_with_a_bare_equals_enum_parses_as_kubernetes_reads_it():
    from preflight.manifests import read_documents

    documents = read_documents(FIXTURES / "mixed" / "crd.yaml", [])
    enum = documents[0].body["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["matchType"]["enum"]
    assert enum == ["!=", "=", "=~", "!~"]
    config_map = read_documents(FIXTURES / "mixed" / "config.yml", [])[0].body
    assert config_map["data"]["released"] == "2024-05-01"  # a timestamp stays a string, as in Kubernetes


def test_an_empty_folder_exits_2_saying_so(tmp_path):
    assert_bad_input(run_preflight("check", "--manifests", str(tmp_path)), tmp_path, "no manifests found")


def test_a_folder_without_kubernetes_objects_exits_2_and_lists_what_it_skipped():
    folder = FIXTURES / "not-kubernetes"
    result = run_preflight("check", "--manifests", str(folder))
    assert_bad_input(result, folder, "no Kubernetes objects found", "values.yaml", "Kustomization")


def test_invalid_utf8_manifest_exits_2_naming_it(tmp_path):
    (tmp_path / "ok.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: shop}\n")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: caf\xe9, namespace: shop}\n")
    assert_bad_input(run_preflight("check", "--manifests", str(tmp_path)), bad, "not UTF-8")


def test_broken_json_manifest_exits_2(tmp_path):
    bad = tmp_path / "svc.json"
    bad.write_text('{"apiVersion": "v1", "kind": }')
    assert_bad_input(run_preflight("check", "--manifests", str(tmp_path)), bad, "broken JSON at line 1")
