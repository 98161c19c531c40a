"""`preflight import-compose` (issue #18): each Compose/Swarm mapping rule, the refusals, the
write into a stack file (comments, order, idempotence), and the imported stacks plan and pass
the policy gate."""

from __future__ import annotations

import difflib
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from components.app_workload import probes
from components.config import parse_stack_config
from components.config.access import placeholder_issues
from components.config.tenancy import AppConfig
from conftest import ROOT, run_preflight
from helpers import absent_team
from policies.rules.image_reference import image_pin_problem
from preflight.__main__ import main
from preflight.compose.deploy import cpu_quantity, memory_quantity
from preflight.compose.findings import NOT_APPLICABLE, NOT_MAPPED, NOTICE, REFUSED
from preflight.compose.mapping import ImportOptions, map_services
from preflight.compose.source import interpolate, read_compose_file
from preflight.stackfile import read_stack_file
from variants import IMPORTS

FIXTURES = ROOT / "tests" / "fixtures" / "compose"
THREE_TIER = FIXTURES / "three-tier" / "compose.yaml"
SWARM = FIXTURES / "swarm" / "stack.yml"
REFUSED_FILE = FIXTURES / "refused" / "compose.yaml"
PLACEHOLDER = {"secure": "import-compose-placeholder"}


def imported(tmp_path: Path, text: str, environ: dict | None = None, **options):
    path = tmp_path / "compose.yaml"
    path.write_text(textwrap.dedent(text))
    compose = read_compose_file(path, environ or {})
    return {item.service: item for item in map_services(compose, ImportOptions(team="shop", **options))}


def findings(item, kind: str) -> dict[str, str]:
    """Messages of one kind by Compose key (several for one key joined by ' | ')."""
    found: dict[str, str] = {}
    for f in item.findings:
        if f.kind == kind:
            found[f.key] = f"{found[f.key]} | {f.message}" if f.key in found else f.message
    return found


def stack_copy(tmp_path: Path, stack: str = "dev") -> Path:
    copy = tmp_path / f"Pulumi.{stack}.yaml"
    shutil.copy(ROOT / f"Pulumi.{stack}.yaml", copy)
    return copy


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["import-compose", *args])
    out, err = capsys.readouterr()
    return code, out, err


# -- image ----------------------------------------------------------------------------------

def test_a_pinned_image_is_kept_and_latest_or_no_tag_is_refused_naming_the_service(tmp_path):
    apps = imported(tmp_path, """
        services:
          ok: {image: "ghcr.io/example/ok:1.2.3", expose: ["80"]}
          digest: {image: "ghcr.io/example/d@sha256:4b4a5e5e2b9c9ad5a0f7e3b3c0f6f1d8a9e2c7b6d5e4f3a2b1c0d9e8f7a6b5c4"}
          latest: {image: "docker.io/library/nginx:latest"}
          bare: {image: "docker.io/library/nginx"}
          built: {build: .}
    """)
    assert apps["ok"].app["image"] == "ghcr.io/example/ok:1.2.3" and not apps["ok"].refused
    assert not apps["digest"].refused
    for service, image in (("latest", "docker.io/library/nginx:latest"), ("bare", "docker.io/library/nginx")):
        message = findings(apps[service], REFUSED)["image"]
        # The pack's own check, not a second one: its wording, plus the service and what to do.
        assert image_pin_problem(image) in message and repr(service) in message
        assert "tag" in message and "digest" in message
    assert "build and push the image" in findings(apps["built"], REFUSED)["image"]


# -- replicas, resources ----------------------------------------------------------------------

def test_deploy_replicas_is_a_fixed_count_and_none_keeps_the_platform_autoscaling(tmp_path):
    apps = imported(tmp_path, """
        services:
          fixed: {image: "a/b:1", deploy: {replicas: 3}}
          legacy: {image: "a/b:1", scale: 2}
          default: {image: "a/b:1"}
    """)
    assert apps["fixed"].app["replicas"] == 3 and apps["fixed"].app["autoscaling"] is None
    assert apps["legacy"].app["replicas"] == 2
    assert "replicas" not in apps["default"].app and "autoscaling" not in apps["default"].app
    assert "autoscales from 2 to 10" in findings(apps["default"], NOTICE)["deploy.replicas"]


@pytest.mark.parametrize("given, expected", [("0.5", "500m"), (2, "2"), ("1.5", "1500m"), ("0.25", "250m")])
def test_cpus_become_cpu_quantities(given, expected):
    assert cpu_quantity(given) == expected


@pytest.mark.parametrize("given, expected", [("512M", "512Mi"), ("1G", "1Gi"), ("256m", "256Mi"), ("1gb", "1Gi"),
                                             ("64k", "64Ki"), (536870912, "512Mi"), ("1.5G", "1.5Gi")])
def test_memory_becomes_binary_quantities(given, expected):
    assert memory_quantity(given) == expected


def test_reservations_and_limits_become_requests_and_limits_within_the_limit_range(tmp_path):
    apps = imported(tmp_path, """
        services:
          both:
            image: "a/b:1"
            deploy: {resources: {reservations: {cpus: "0.25", memory: 256M}, limits: {cpus: "1.5", memory: 1G}}}
          limits-only:
            image: "a/b:1"
            deploy: {resources: {limits: {cpus: "0.2", memory: 200M}}}
          legacy: {image: "a/b:1", cpus: 0.75, mem_limit: 768m, mem_reservation: 300m}
          tiny: {image: "a/b:1", deploy: {resources: {reservations: {cpus: "0.05", memory: 64M}}}}
    """)
    assert apps["both"].app["resources"] == {"cpuRequest": "250m", "memoryRequest": "256Mi",
                                             "cpuLimit": "1500m", "memoryLimit": "1Gi"}
    # A request is never above its limit: the default request is capped by the given limit.
    assert apps["limits-only"].app["resources"] == {"cpuRequest": "200m", "memoryRequest": "200Mi",
                                                    "cpuLimit": "200m", "memoryLimit": "200Mi"}
    assert apps["legacy"].app["resources"] == {"cpuRequest": "250m", "memoryRequest": "300Mi",
                                               "cpuLimit": "750m", "memoryLimit": "768Mi"}
    # Below the team's LimitRange minimum (100m, 128Mi) is raised to it, with a notice.
    assert apps["tiny"].app["resources"]["cpuRequest"] == "100m"
    assert apps["tiny"].app["resources"]["memoryRequest"] == "128Mi"
    assert "raised to 128Mi" in findings(apps["tiny"], NOTICE)["deploy.resources.reservations.memory"]


# -- healthcheck -> probes --------------------------------------------------------------------

def test_a_curl_or_wget_of_a_local_url_becomes_an_http_probe_with_the_timings(tmp_path):
    apps = imported(tmp_path, """
        services:
          curl:
            image: "a/b:1"
            expose: ["3000"]
            healthcheck:
              test: ["CMD-SHELL", "curl -fsS http://localhost:3000/health?full=1 || exit 1"]
              interval: 1m30s
              timeout: 2s
              retries: 4
              start_period: 42s
          wget:
            image: "a/b:1"
            expose: ["8080"]
            healthcheck: {test: ["CMD", "wget", "-q", "--spider", "http://127.0.0.1:8080/"]}
          portless:
            image: "a/b:1"
            healthcheck: {test: "wget -qO- http://localhost:9000/ping"}
    """)
    assert apps["curl"].app["probe"] == {"path": "/health?full=1", "periodSeconds": 90, "timeoutSeconds": 2,
                                         "startSeconds": 42, "failureThreshold": 4}
    assert apps["wget"].app["probe"] == {"path": "/"}
    # No port anywhere else: the one the healthcheck fetches is the app port.
    assert apps["portless"].app["port"] == 9000 and apps["portless"].app["probe"] == {"path": "/ping"}


def test_any_other_healthcheck_is_an_exec_probe_running_the_same_command(tmp_path):
    apps = imported(tmp_path, """
        services:
          shell: {image: "a/b:1", expose: ["5432"], healthcheck: {test: ["CMD-SHELL", "pg_isready -q"], retries: 5}}
          argv: {image: "a/b:1", expose: ["6379"], healthcheck: {test: ["CMD", "redis-cli", "ping"]}}
          other-port: {image: "a/b:1", expose: ["8080"], healthcheck: {test: "curl -f http://localhost:9090/ready"}}
          with-header: {image: "a/b:1", expose: ["80"], healthcheck: {test: "curl -H 'X: y' http://localhost/"}}
          remote: {image: "a/b:1", expose: ["80"], healthcheck: {test: "curl -f http://example.com/"}}
    """)
    assert apps["shell"].app["probe"] == {"command": ["/bin/sh", "-c", "pg_isready -q"], "failureThreshold": 5}
    assert apps["argv"].app["probe"] == {"command": ["redis-cli", "ping"]}
    assert apps["other-port"].app["probe"]["command"] == ["/bin/sh", "-c", "curl -f http://localhost:9090/ready"]
    assert "not the app port 8080" in " ".join(findings(apps["other-port"], NOTICE).values())
    assert "command" in apps["with-header"].app["probe"] and "command" in apps["remote"].app["probe"]


def test_no_healthcheck_is_a_tcp_probe_on_the_port_with_a_warning(tmp_path):
    apps = imported(tmp_path, """
        services:
          db: {image: "a/b:1", expose: ["5432"]}
          off: {image: "a/b:1", expose: ["5432"], healthcheck: {disable: true}}
          worker: {image: "a/b:1"}
    """)
    assert apps["db"].app["probe"] == {"tcp": True} and apps["off"].app["probe"] == {"tcp": True}
    assert "TCP probe on port 5432" in findings(apps["db"], NOTICE)["healthcheck"]
    assert "no healthcheck and no port" in findings(apps["worker"], NOT_MAPPED)["healthcheck"]


def test_exec_probes_and_timings_render_on_all_three_probes():
    app = AppConfig.model_validate({"name": "db", "image": "a/b:1", "probe": {
        "command": ["pg_isready", "-q"], "periodSeconds": 20, "timeoutSeconds": 4, "failureThreshold": 6,
        "startSeconds": 42}})
    rendered = probes(app)
    for probe in rendered.values():
        assert probe["exec"] == {"command": ["pg_isready", "-q"]} and "httpGet" not in probe
        assert probe["timeoutSeconds"] == 4
    assert rendered["livenessProbe"]["periodSeconds"] == rendered["readinessProbe"]["periodSeconds"] == 20
    assert rendered["livenessProbe"]["failureThreshold"] == 6
    assert rendered["startupProbe"] == {"exec": {"command": ["pg_isready", "-q"]}, "periodSeconds": 5,
                                        "failureThreshold": 9, "timeoutSeconds": 4}
    # Unset timings keep the platform's probes exactly as they were.
    default = probes(AppConfig.model_validate({"name": "web", "image": "a/b:1"}))
    assert default["startupProbe"] == {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5,
                                       "failureThreshold": 30}
    assert default["livenessProbe"]["periodSeconds"] == 10 and default["readinessProbe"]["periodSeconds"] == 5
    with pytest.raises(ValueError, match="either command"):
        AppConfig.model_validate({"name": "x", "image": "a/b:1", "probe": {"command": ["true"], "tcp": True}})


# -- update_config, restart_policy, placement --------------------------------------------------

def test_update_config_becomes_the_rolling_update(tmp_path):
    apps = imported(tmp_path, """
        services:
          start: {image: "a/b:1", deploy: {update_config: {parallelism: 2, order: start-first}}}
          stop: {image: "a/b:1", deploy: {update_config: {parallelism: 1, order: stop-first}}}
          all: {image: "a/b:1", deploy: {update_config: {parallelism: 0}}}
          back:
            image: "a/b:1"
            deploy:
              update_config: {failure_action: rollback, delay: 10s, monitor: 30s, max_failure_ratio: 0.2}
              rollback_config: {parallelism: 1}
          data:
            image: "a/b:1"
            volumes: ["data:/data"]
            deploy: {update_config: {parallelism: 2, order: start-first}}
        volumes: {data: {}}
    """)
    assert (apps["start"].app["maxSurge"], apps["start"].app["maxUnavailable"]) == (2, 0)
    assert (apps["stop"].app["maxSurge"], apps["stop"].app["maxUnavailable"]) == (0, 1)
    assert (apps["all"].app["maxSurge"], apps["all"].app["maxUnavailable"]) == (0, "100%")
    not_applicable = findings(apps["back"], NOT_APPLICABLE)
    assert "does not roll a Deployment back by itself" in not_applicable["deploy.update_config.failure_action"]
    assert {"deploy.update_config.delay", "deploy.update_config.monitor", "deploy.update_config.max_failure_ratio",
            "deploy.rollback_config"} <= set(not_applicable)
    assert "maxSurge" not in apps["data"].app
    assert "one at a time" in findings(apps["data"], NOT_APPLICABLE)["deploy.update_config"]


def test_restart_policy_and_placement_are_explained_as_not_applicable(tmp_path):
    apps = imported(tmp_path, """
        services:
          db:
            image: "a/b:1"
            restart: always
            deploy:
              restart_policy: {condition: on-failure, max_attempts: 3}
              placement: {constraints: ["node.role == manager"], preferences: [{spread: node.labels.zone}]}
    """)
    explained = findings(apps["db"], NOT_APPLICABLE)
    assert "always restarts" in explained["deploy.restart_policy"] and "always restarts" in explained["restart"]
    assert "control plane" in explained["deploy.placement.constraints"]
    assert "spreads replicas" in explained["deploy.placement.preferences"]
    assert not apps["db"].refused


# -- ports and host -----------------------------------------------------------------------------

def test_ports_give_the_app_port_and_80_or_443_a_host(tmp_path):
    apps = imported(tmp_path, """
        services:
          web: {image: "a/b:1", ports: ["80:8080", "9100:9100"]}
          secure: {image: "a/b:1", ports: [{target: 8443, published: 443}]}
          named: {image: "a/b:1", ports: ["127.0.0.1:80:3000"]}
          internal: {image: "a/b:1", ports: ["5432:5432", "53:53/udp"]}
    """, hosts={"named": "shop.example.com"})
    web = apps["web"]
    assert web.app["port"] == 8080 and web.app["host"] == "web.shop.change-me.invalid"
    assert "--host web=HOST" in " ".join(findings(web, NOTICE).values())
    assert "9100" in findings(web, NOT_MAPPED)["ports"]
    assert apps["secure"].app["port"] == 8443 and "TLS ends at the platform's ingress" in " ".join(
        findings(apps["secure"], NOTICE).values())
    assert apps["named"].app["port"] == 3000 and apps["named"].app["host"] == "shop.example.com"
    internal = apps["internal"]
    assert internal.app["port"] == 5432 and "host" not in internal.app
    assert "udp" in findings(internal, NOT_MAPPED)["ports"]


# -- dependencies ---------------------------------------------------------------------------------

def test_depends_on_and_hosts_named_on_a_shared_network_become_depends_on(tmp_path):
    apps = imported(tmp_path, """
        services:
          web: {image: "a/b:1", networks: [front], depends_on: [api]}
          api:
            image: "a/b:1"
            networks: [front, back]
            depends_on: {cache: {condition: service_started}}
            environment: {DATABASE_URL: "postgres://db:5432/shop"}
          cache: {image: "a/b:1", networks: [back]}
          db: {image: "a/b:1", networks: [back]}
          admin: {image: "a/b:1", networks: [front], environment: {DB_HOST: db}}
    """)
    assert apps["web"].app["dependsOn"] == ["api"]
    assert apps["api"].app["dependsOn"] == ["cache", "db"]
    # admin names db, but they share no network: Compose would not let it reach db either.
    assert "dependsOn" not in apps["admin"].app and "dependsOn" not in apps["db"].app
    assert "no traffic between them" in findings(apps["cache"], NOTICE)["networks"]


# -- environment, env_file, secrets ---------------------------------------------------------------

def test_environment_env_file_and_secrets(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "app.env").write_text("# settings\nMODE=prod\nLEVEL=debug\nexport API_TOKEN='abc'\n")
    apps = imported(tmp_path, """
        services:
          app:
            image: "a/b:1"
            env_file: conf/app.env
            environment:
              - LEVEL=info
              - REPLICA_COUNT=3
              - CACHE_URL=redis://user:hunter2@cache:6379
              - FROM_SHELL
            secrets: [db_password, {source: tls_key, target: /run/secrets/tls.key}]
          db:
            image: "a/b:1"
            secrets: [db_password]
            environment: {POSTGRES_PASSWORD_FILE: /run/secrets/db_password, POSTGRES_USER: shop}
        secrets:
          db_password: {file: ./db_password.txt}
          tls_key: {external: true}
    """, environ={"FROM_SHELL": "yes"})
    app, db = apps["app"], apps["db"]
    assert app.app["env"] == {"MODE": "prod", "LEVEL": "info", "REPLICA_COUNT": "3", "FROM_SHELL": "yes"}
    assert app.app["secrets"] == {"API_TOKEN": PLACEHOLDER, "CACHE_URL": PLACEHOLDER, "DB_PASSWORD": PLACEHOLDER,
                                  "TLS_KEY": PLACEHOLDER}
    assert "the file /run/secrets/db_password; here it is the env var DB_PASSWORD" in findings(
        app, NOTICE)["secrets.db_password"]
    assert "db_password.txt" in findings(db, NOTICE)["secrets.db_password"]
    assert db.app["env"] == {"POSTGRES_USER": "shop"} and db.app["secrets"] == {"POSTGRES_PASSWORD": PLACEHOLDER}


def test_a_missing_env_file_refuses_the_service(tmp_path):
    apps = imported(tmp_path, """
        services:
          app: {image: "a/b:1", env_file: [missing.env, {path: optional.env, required: false}]}
    """)
    assert "missing.env not found" in findings(apps["app"], REFUSED)["env_file"]


def test_secret_commands_name_the_exact_config_path(tmp_path, capsys):
    config = stack_copy(tmp_path)
    code, out, _ = cli(capsys, str(THREE_TIER), "--team", "shop", "--config", str(config))
    assert code == 0
    # shop is teams[0] of dev with three apps: web, api and db become apps[3..5].
    assert ("pulumi config set --secret --path 'eks-platform:teams[0].apps[4].secrets.DATABASE_PASSWORD' <value>"
            in out)
    assert "'eks-platform:teams[0].apps[5].secrets.POSTGRESQL_PASSWORD'" in out
    assert "dev-only-password" not in out


# -- volumes and refusals ---------------------------------------------------------------------------

def test_a_named_volume_makes_a_stateful_app_with_a_sized_claim(tmp_path):
    apps = imported(tmp_path, """
        services:
          db: {image: "a/b:1", volumes: ["pgdata:/var/lib/postgresql/data", "logs:/logs"]}
          cache: {image: "a/b:1", volumes: [{type: volume, source: data, target: /data}], deploy: {replicas: 2}}
          scratch: {image: "a/b:1", volumes: ["/cache"], tmpfs: [/tmp, /run]}
        volumes: {pgdata: {}, logs: {}, data: {}}
    """, storage_gi={"cache": 3})
    db = apps["db"]
    assert db.app["stateful"] == {"storageGi": 10, "mountPath": "/var/lib/postgresql/data"}
    assert db.app["replicas"] == 1 and db.app["autoscaling"] is None
    assert "--storage-gi db=GI" in findings(db, NOTICE)["volumes"]
    assert "logs at /logs" in findings(db, NOT_MAPPED)["volumes"]
    assert apps["cache"].app["stateful"] == {"storageGi": 3, "mountPath": "/data"}
    assert "stateful" not in apps["scratch"].app
    assert "anonymous volume" in findings(apps["scratch"], NOT_MAPPED)["volumes"]
    assert "/run" in findings(apps["scratch"], NOT_MAPPED)["tmpfs"]


def test_pod_security_refusals_give_the_reason(tmp_path):
    apps = imported(tmp_path, """
        services:
          priv: {image: "a/b:1", privileged: true}
          caps: {image: "a/b:1", cap_add: [NET_ADMIN]}
          hostnet: {image: "a/b:1", network_mode: host}
          hostpid: {image: "a/b:1", pid: host}
          bind: {image: "a/b:1", volumes: ["./conf:/etc/app:ro"]}
          bind-long: {image: "a/b:1", volumes: [{type: bind, source: /var/run/docker.sock, target: /sock}]}
          root: {image: "a/b:1", user: root}
          fine: {image: "a/b:1", cap_drop: [ALL], security_opt: ["no-new-privileges:true"]}
    """)
    for service, key in (("priv", "privileged"), ("caps", "cap_add"), ("hostnet", "network_mode"),
                         ("hostpid", "pid"), ("bind", "volumes"), ("bind-long", "volumes"), ("root", "user")):
        assert "restricted Pod Security level" in findings(apps[service], REFUSED)[key], service
    assert not apps["fine"].refused


def test_a_refused_service_exits_2_and_writes_nothing(tmp_path, capsys):
    config = stack_copy(tmp_path)
    before = config.read_text()
    code, out, err = cli(capsys, str(REFUSED_FILE), "--team", "shop", "--config", str(config), "--write")
    assert code == 2 and config.read_text() == before
    assert "agent, proxy refused" in err and "nothing was written" in err
    assert "bind mount /var/run/docker.sock" in out and "cap_add: NET_ADMIN" in out
    assert "- name: app" in out  # the service that can be imported is still shown


def test_what_is_not_mapped_is_listed_per_service_at_the_end(tmp_path, capsys):
    code, out, _ = cli(capsys, str(THREE_TIER), "--team", "shop", "--config", str(stack_copy(tmp_path)))
    assert code == 0
    report = out.split("Not mapped or worth a look, per service:", 1)[1]
    api = report.split("\n  api:\n", 1)[1].split("\n  db:\n", 1)[0]
    assert "not mapped      command:" in api and "environment.LOG_LEVEL" in api


# -- interpolation --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("${A}", "a"), ("$A/x", "a/x"), ("${UNSET:-d}", "d"), ("${EMPTY:-d}", "d"), ("${EMPTY-d}", ""),
    ("${UNSET-d}", "d"), ("${A:+alt}", "alt"), ("${UNSET:+alt}", ""), ("$$A", "$A"),
    ("${UNSET:-${A}-x}", "a-x"), ("${A:?need A}", "a"),
])
def test_interpolation_forms(text, expected):
    notes: list[str] = []
    assert interpolate(text, {"A": "a", "EMPTY": ""}, notes) == expected
    assert notes == []


def test_interpolation_reports_what_it_cannot_resolve(tmp_path):
    (tmp_path / ".env").write_text("TAG=2.0.0\nREGISTRY=ghcr.io/example\n")
    apps = imported(tmp_path, """
        services:
          app:
            image: "${REGISTRY}/app:${TAG:-1.0.0}"
            environment: {A: "${MISSING}", B: "${REQUIRED:?set it}", C: "${1BAD}"}
    """, environ={"TAG": "3.0.0"})
    app = apps["app"]
    assert app.app["image"] == "ghcr.io/example/app:3.0.0"  # the environment wins over .env
    notes = " ".join(f.message for f in app.findings if f.key == "interpolation")
    assert "${MISSING} is not set" in notes and "REQUIRED is required" in notes
    assert "${1BAD} is not an interpolation" in notes


# -- command line: exit codes -------------------------------------------------------------------------

@pytest.mark.parametrize("content, message", [
    (None, "cannot read the file"),
    ("services: [a\n", "broken YAML at line"),
    ("name: x\nversion: '3'\n", "not a Compose or Swarm stack file"),
    ("services:\n  web: nginx\n", "services.web must be a mapping"),
    ("services:\n  web:\n    image: a/b:1\n    ports: '80:80'\n    deploy: {resources: {limits: 1}}\n",
     "services.web.ports must be a list, not str\n  - services.web.deploy.resources.limits must be a mapping"),
    ("services:\n  web: {image: a/b:1}\n  web: {image: a/b:2}\n", "broken YAML"),  # Compose refuses it too
    ("include: [other.yaml]\nservices:\n  web: {image: a/b:1}\n", "docker compose config > resolved.yaml"),
])
def test_bad_compose_input_exits_2_without_traceback(tmp_path, capsys, content, message):
    path = tmp_path / "compose.yaml"
    if content is not None:
        path.write_text(content)
    code, _, err = cli(capsys, str(path), "--team", "shop", "--config", str(stack_copy(tmp_path)))
    assert code == 2 and message in err and "Traceback" not in err


def test_unknown_team_without_write_and_bad_options_exit_2(tmp_path, capsys):
    config = str(stack_copy(tmp_path))
    team = absent_team("dev")  # stack_copy's stack
    code, _, err = cli(capsys, str(THREE_TIER), "--team", team, "--config", config)
    assert code == 2 and f"team '{team}' is not in" in err and "--write" in err
    code, _, err = cli(capsys, str(THREE_TIER), "--team", "shop", "--config", config, "--host", "nope=a.example.com")
    assert code == 2 and "no service 'nope'" in err
    code, _, err = cli(capsys, str(THREE_TIER), "--team", "shop", "--config", config, "--storage-gi", "db=big")
    assert code == 2 and "whole number of GiB" in err
    code, _, err = cli(capsys, str(THREE_TIER), "--team", "shop", "--config", config, "--host", "web=Not A Host")
    assert code == 2 and "host" in err and "Traceback" not in err


def test_subprocess_entry_point_and_exit_code():
    result = run_preflight("import-compose", str(THREE_TIER), "--team", "shop")
    assert result.returncode == 0, result.stderr
    assert "- name: web" in result.stdout and "Traceback" not in result.stderr


# -- --write ------------------------------------------------------------------------------------

def test_write_keeps_comments_and_order_and_is_idempotent(tmp_path, capsys):
    config = stack_copy(tmp_path)
    before = config.read_text()
    code, out, _ = cli(capsys, str(THREE_TIER), "--team", "shop", "--config", str(config), "--write",
                       "--host", "web=shop-web.dev.example.com")
    assert code == 0 and "added app web" in out
    after = config.read_text()
    diff = [line for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line[:1] in "-+"]
    assert diff and all(line.startswith("+ ") for line in diff), "only insertions: comments and order kept"
    assert "# dev: cheap and disposable." in after
    apps = next(t for t in yaml.safe_load(after)["config"]["eks-platform:teams"] if t["name"] == "shop")["apps"]
    assert [a["name"] for a in apps] == ["frontend", "backend", "database", "web", "api", "db"]
    assert "# fill: pulumi config set --secret --path 'eks-platform:teams[0].apps[4].secrets.SESSION_SECRET'" in after

    code, out, _ = cli(capsys, str(THREE_TIER), "--team", "shop", "--config", str(config), "--write",
                       "--host", "web=shop-web.dev.example.com")
    assert code == 0 and config.read_text() == after
    assert "app web unchanged" in out and "app db unchanged" in out


def test_write_again_says_what_it_replaced_and_keeps_secrets_already_set(tmp_path, capsys, monkeypatch):
    config = stack_copy(tmp_path)
    assert cli(capsys, str(THREE_TIER), "--team", "shop", "--config", str(config), "--write")[0] == 0
    # Someone ran the printed `pulumi config set --secret`, and added a key the import does not own.
    text = config.read_text().replace(
        "POSTGRESQL_PASSWORD: {secure: import-compose-placeholder}", "POSTGRESQL_PASSWORD: {secure: v1:c2VjcmV0}")
    text = text.replace("        - name: web\n", "        - name: web\n          minAvailable: 1\n")
    config.write_text(text)
    monkeypatch.setenv("WEB_TAG", "1.9.0")
    code, out, _ = cli(capsys, str(THREE_TIER), "--team", "shop", "--config", str(config), "--write",
                       "--storage-gi", "db=20")
    assert code == 0
    assert "replaced in app web: image" in out and "replaced in app db: stateful" in out
    written = config.read_text()
    assert "POSTGRESQL_PASSWORD: {secure: v1:c2VjcmV0}" in written
    web = next(a for t in yaml.safe_load(written)["config"]["eks-platform:teams"] for a in t["apps"]
               if a["name"] == "web")
    assert web["image"] == "ghcr.io/example/shop-web:1.9.0" and web["minAvailable"] == 1


def test_write_creates_the_team_with_a_quota_that_fits_its_apps(tmp_path, capsys):
    config = stack_copy(tmp_path)
    compose = tmp_path / "big" / "compose.yaml"
    compose.parent.mkdir()
    compose.write_text(textwrap.dedent("""
        services:
          batch:
            image: "ghcr.io/example/batch:1.0.0"
            expose: ["8080"]
            deploy: {replicas: 30, resources: {reservations: {cpus: "1", memory: 2G}, limits: {cpus: "2", memory: 4G}}}
    """))
    code, out, err = cli(capsys, str(compose), "--team", "batch", "--config", str(config), "--write")
    assert code == 0, err
    assert "created team batch" in out
    team = next(t for t in yaml.safe_load(config.read_text())["config"]["eks-platform:teams"] if t["name"] == "batch")
    assert team["quota"] == {"requestsCpu": "30", "requestsMemory": "60Gi", "limitsCpu": "60",
                             "limitsMemory": "120Gi"}


# -- the imported stacks plan and pass the gate ------------------------------------------------------

# Two of the four stack x file pairs (each plan takes seconds), imported into the session's variant
# stacks (tests/variants.py IMPORTS, which asserts import-compose --write exits 0): the three tiers
# into dev's existing team, the Swarm stack into a new team of prod, where the gate is mandatory.
@pytest.mark.parametrize("stack", ["dev", "prod"], ids=["three-tier-dev", "swarm-prod"])
def test_the_imported_stack_plans_and_passes_the_gate(variants, stack):
    compose, team, _ = IMPORTS[stack]
    plan = variants[stack]  # plan_stack asserts `preflight plan --config` exits 0
    check = run_preflight("check", "--plan", str(plan.path))  # the plan just made, not a second run
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Violations: 0 mandatory" in check.stdout

    def workload(kind: str, name: str) -> dict:
        return plan.one(f"kubernetes:apps/v1:{kind}", f"team-{team}-{name}-{kind.lower()}")["inputs"]

    db = workload("StatefulSet", "db")
    container = db["spec"]["template"]["spec"]["containers"][0]
    assert "exec" in container["livenessProbe"] and "exec" in container["readinessProbe"]
    assert container["livenessProbe"]["periodSeconds"] == 10
    if compose == THREE_TIER:
        api = workload("Deployment", "api")["spec"]["template"]["spec"]["containers"][0]
        assert api["livenessProbe"]["httpGet"] == {"path": "/health?full=1", "port": "http"}
        assert api["startupProbe"]["failureThreshold"] == 8  # start_period 40s, every 5 s
        assert {"name": "DATABASE_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "api-env",
                                                                            "key": "DATABASE_PASSWORD"}}} in api["env"]
        ingress = plan.one("kubernetes:networking.k8s.io/v1:Ingress", "team-shop-web-ingress")["inputs"]
        assert ingress["spec"]["rules"][0]["host"] == "shop-web.dev.example.com"
    else:
        vote = workload("Deployment", "vote")["spec"]
        assert vote["replicas"] == 3 and vote["strategy"]["rollingUpdate"] == {"maxSurge": 2, "maxUnavailable": 0}
        assert db["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "50Gi"
        result = workload("Deployment", "result")["spec"]["strategy"]["rollingUpdate"]
        assert result == {"maxSurge": 0, "maxUnavailable": 1}


def test_the_placeholder_host_stops_pulumi_up_like_the_other_example_values(tmp_path, capsys):
    config = stack_copy(tmp_path)
    assert cli(capsys, str(THREE_TIER), "--team", "shop", "--config", str(config), "--write")[0] == 0
    stack_file = read_stack_file(config)
    parsed = parse_stack_config(stack_file.project_values, stack="dev", is_secret=stack_file.is_secret)
    found = {issue.path: issue.message for issue in placeholder_issues(parsed)}
    assert "web.shop.change-me.invalid" in found["teams[0].apps[3].host"]
    assert not any(path.endswith(".host") and "apps[0]" in path for path in found)  # real hosts pass
    # and so does each secret it wrote as a `secure:` placeholder to fill
    imported_secrets = {path for path in found if path.startswith("teams[0].apps[") and ".secrets." in path}
    assert imported_secrets and all(f"--secret --path '{path}' <value>" in found[path] for path in imported_secrets)


def test_an_internal_error_exits_3_without_traceback_and_writes_nothing(tmp_path, capsys, monkeypatch):
    import preflight.compose.importer as importer

    def broken(*_args, **_kwargs):
        raise KeyError("oops")

    monkeypatch.setattr(importer, "map_services", broken)
    config = stack_copy(tmp_path)
    before = config.read_text()
    code, _, err = cli(capsys, str(THREE_TIER), "--team", "shop", "--config", str(config), "--write")
    assert code == 3 and "internal error in import-compose" in err and "nothing was written" in err
    assert "Traceback" not in err and config.read_text() == before


def test_an_existing_team_whose_quota_only_fits_the_minimum_is_told_what_to_raise(tmp_path, capsys):
    compose = tmp_path / "compose.yaml"
    compose.write_text(textwrap.dedent("""
        services:
          one: {image: "ghcr.io/example/one:1.0.0", expose: ["8080"], deploy: {resources: {reservations: {cpus: "2"}}}}
          two: {image: "ghcr.io/example/two:1.0.0", expose: ["8080"], deploy: {resources: {reservations: {cpus: "2"}}}}
    """))
    config = stack_copy(tmp_path)
    code, out, _ = cli(capsys, str(compose), "--team", "analytics", "--config", str(config), "--write")
    assert code == 0  # 2 x 2 CPU each at the HPA minimum fits the default 20 CPU; 10 x 2 each does not
    assert "raise requestsCpu to 41; limitsCpu to 41 (teams[1].quota)" in out  # with reports and reports-rollup: 40.5
