#!/usr/bin/env bash
# Deploys zava-mcp to Azure with infra/main.bicep, then applies db/ (docs/azure.md).
set -euo pipefail

usage() {
    cat <<'EOF'
usage: infra/deploy.sh ENV [options]

Deploys zava-mcp into an existing resource group with infra/main.bicep and
infra/main.ENV.parameters.json, then applies db/ to the database.

  ENV                       dev or prod
  -g, --resource-group RG   the resource group (default: $ZAVA_RESOURCE_GROUP, else zava-mcp-ENV)
  --image IMAGE             deploy IMAGE instead of building this checkout with az acr build
  --skip-init               do not run the init job (db/ is not applied)
  -h, --help                show this text

Steps:
  1. the infrastructure: virtual network, PostgreSQL Flexible Server (private access,
     pgvector allow-listed, Entra auth), Key Vault, Azure OpenAI, container registry,
     Log Analytics, Container Apps environment, managed identity
  2. the image, built in the registry from this checkout (no local Docker needed)
  3. the init job, inside the virtual network, as the PostgreSQL administrator:
     zava-mcp db init, db seed (when the database is empty and seedSampleData is true),
     embed --missing-only, and the login role's password from Key Vault
  4. the server app, which connects as the login role zava_server (and reads from the
     read replica, with ZAVA_READ_REPLICA=true)

Read replica: ZAVA_READ_REPLICA=true adds a read replica of PostgreSQL (same subnet,
same size; not on the Burstable tier, so not with the dev parameters) and points the
server's ZAVA_READ_URLS at it: tool calls run there, key checks and audit stay on the
primary. ZAVA_READ_REPLICA=false stops using it (the replica itself is kept: delete it
with az postgres flexible-server delete). Unset: the parameter file decides (default off).

Passwords: ZAVA_PG_ADMIN_PASSWORD and ZAVA_SERVER_PASSWORD when set; otherwise those in
Key Vault from an earlier deployment; otherwise new random ones, kept in Key Vault.
The signed-in user becomes the PostgreSQL Entra administrator and may manage the
Key Vault secrets (ZAVA_OPERATOR_OBJECT_ID for a service principal).

Needs the Azure CLI, logged in (az login), and the resource group:
  az group create --name zava-mcp-dev --location swedencentral
EOF
}

say() { echo "deploy: $*" >&2; }
die() {
    echo "deploy: error: $*" >&2
    exit 1
}

# Upper case, lower case and digits (Azure's password rule); safe in URLs and JSON.
random_password() {
    printf 'Zv%s' "$(od -An -tx1 -N20 /dev/urandom | tr -d ' \n')"
}

check_password() { # NAME VALUE
    [[ "$2" =~ ^[A-Za-z0-9._~-]{16,128}$ ]] ||
        die "$1 must be 16 to 128 letters, digits or . _ ~ - (it goes into connection URLs)"
}

vault_secret() { # VAULT NAME: the secret's value, or nothing
    [[ -n "$1" ]] || return 0
    az keyvault secret show --vault-name "$1" --name "$2" --query value --output tsv \
        2>/dev/null || true
}

output() { # NAME: an output of the last deployment
    az deployment group show --resource-group "$resource_group" --name "$deployment" \
        --query "properties.outputs.$1.value" --output tsv
}

replica_exists() { # true when the resource group has the read replica already, else false
    local found
    found=$(az resource list --resource-group "$resource_group" \
        --resource-type Microsoft.DBforPostgreSQL/flexibleServers \
        --query "[?tags.\"zava-role\" == 'read-replica'].name" --output tsv)
    if [[ -n "$found" ]]; then echo true; else echo false; fi
}

deploy() { # DESCRIPTION [name=value...]
    local description=$1 exists
    shift
    # The replica is created once (createMode Replica); later deployments update it.
    exists=$(replica_exists)
    say "deploying $description"
    az deployment group create \
        --resource-group "$resource_group" \
        --name "$deployment" \
        --template-file "$root/infra/main.bicep" \
        --parameters "$parameters" \
        --parameters "@$secrets_file" \
        --parameters \
        "operatorPrincipalId=$operator_id" "operatorPrincipalType=$operator_type" \
        "entraAdminObjectId=$entra_id" "entraAdminPrincipalName=$entra_name" \
        "entraAdminPrincipalType=$operator_type" \
        "readReplicaExists=$exists" ${read_replica:+"readReplica=$read_replica"} \
        "$@" \
        --output none
}

check_read_replica() { # ZAVA_READ_REPLICA: true, false or unset; no replica on Burstable
    case "$read_replica" in
    "" | false) return 0 ;;
    true) ;;
    *) die "ZAVA_READ_REPLICA must be true or false, not '$read_replica'" ;;
    esac
    local tier=Burstable # main.bicep's default
    if grep -q '"postgresSkuTier"' "$parameters"; then
        tier=$(sed -n 's/.*"postgresSkuTier"[^}]*"value" *: *"\([A-Za-z]*\)".*/\1/p' "$parameters")
    fi
    if [[ "$tier" == Burstable ]]; then
        die "Azure has no read replicas on the Burstable tier ($parameters):" \
            "use GeneralPurpose or MemoryOptimized (the prod parameters do), or unset ZAVA_READ_REPLICA"
    fi
}

run_init_job() {
    local job execution status
    job=$(output initJobName)
    say "running $job: db init, seed when empty, embed, the login role's password"
    execution=$(az containerapp job start --resource-group "$resource_group" --name "$job" \
        --query name --output tsv)
    for _ in $(seq 1 180); do
        status=$(az containerapp job execution show --resource-group "$resource_group" \
            --name "$job" --job-execution-name "$execution" \
            --query properties.status --output tsv)
        case "$status" in
        Succeeded)
            say "$execution succeeded"
            return 0
            ;;
        Failed | Stopped | Degraded)
            die "$execution: $status; its logs: az containerapp job logs show" \
                "--resource-group $resource_group --name $job --execution $execution" \
                "--container zava-init"
            ;;
        esac
        sleep 10
    done
    die "$execution is still running after 30 minutes"
}

main() {
    [[ $# -ge 1 ]] || {
        usage >&2
        exit 2
    }
    case "$1" in
    -h | --help)
        usage
        exit 0
        ;;
    dev | prod) env_name=$1 ;;
    *)
        usage >&2
        exit 2
        ;;
    esac
    shift
    resource_group=${ZAVA_RESOURCE_GROUP:-zava-mcp-$env_name}
    image=${ZAVA_IMAGE:-}
    read_replica=${ZAVA_READ_REPLICA:-}
    run_init=true
    while [[ $# -gt 0 ]]; do
        case "$1" in
        -g | --resource-group)
            resource_group=${2:?$1 needs a value}
            shift 2
            ;;
        --image)
            image=${2:?--image needs a value}
            shift 2
            ;;
        --skip-init)
            run_init=false
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            usage >&2
            die "unknown option: $1"
            ;;
        esac
    done

    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    parameters="$root/infra/main.$env_name.parameters.json"
    deployment="zava-mcp-$env_name"
    [[ -f "$parameters" ]] || die "no parameter file $parameters"
    check_read_replica

    command -v az >/dev/null ||
        die "the Azure CLI is not installed: https://learn.microsoft.com/cli/azure/install-azure-cli"
    az account show --output none 2>/dev/null || die "not logged in to Azure: run az login"
    [[ "$(az group exists --name "$resource_group")" == true ]] ||
        die "resource group $resource_group does not exist:" \
            "az group create --name $resource_group --location <region>"
    say "subscription $(az account show --query name --output tsv), resource group $resource_group"

    # Who runs this: Entra administrator of PostgreSQL and Key Vault secrets officer.
    operator_type=User
    operator_id=${ZAVA_OPERATOR_OBJECT_ID:-}
    entra_name=${ZAVA_OPERATOR_NAME:-}
    if [[ -n "$operator_id" ]]; then
        operator_type=ServicePrincipal
    else
        operator_id=$(az ad signed-in-user show --query id --output tsv 2>/dev/null || true)
        entra_name=$(az ad signed-in-user show --query userPrincipalName --output tsv \
            2>/dev/null || true)
    fi
    entra_id=$operator_id
    [[ -n "$entra_name" ]] || entra_id=""
    [[ -n "$operator_id" ]] ||
        say "warning: no signed-in user; set ZAVA_OPERATOR_OBJECT_ID to manage Key Vault"

    # Passwords: given, else from the last deployment's Key Vault, else new.
    local vault admin_password server_password
    vault=$(output keyVaultName 2>/dev/null || true)
    admin_password=${ZAVA_PG_ADMIN_PASSWORD:-$(vault_secret "$vault" postgres-admin-password)}
    server_password=${ZAVA_SERVER_PASSWORD:-$(vault_secret "$vault" zava-server-password)}
    if [[ -n "$vault" && (-z "$admin_password" || -z "$server_password") ]]; then
        # A new login password would lock out the running server until it restarts.
        die "cannot read the passwords from Key Vault $vault: you need its Key Vault" \
            "Secrets Officer role, or set ZAVA_PG_ADMIN_PASSWORD and ZAVA_SERVER_PASSWORD"
    fi
    if [[ -z "$admin_password" ]]; then
        say "new PostgreSQL administrator password (kept in Key Vault)"
        admin_password=$(random_password)
    fi
    if [[ -z "$server_password" ]]; then
        say "new zava_server password (kept in Key Vault)"
        server_password=$(random_password)
    fi
    check_password ZAVA_PG_ADMIN_PASSWORD "$admin_password"
    check_password ZAVA_SERVER_PASSWORD "$server_password"

    # Secure parameters go in a private file, never on a command line.
    secrets_file=$(umask 077 && mktemp)
    trap 'rm -f "$secrets_file"' EXIT
    cat >"$secrets_file" <<EOF
{
  "\$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
  "contentVersion": "1.0.0.0",
  "parameters": {
    "postgresAdminPassword": {"value": "$admin_password"},
    "zavaServerPassword": {"value": "$server_password"}
  }
}
EOF

    deploy "the infrastructure (1/3)" "image=" "deployServer=false"

    if [[ -z "$image" ]]; then
        local registry tag
        registry=$(output registryName)
        tag=$(date -u +%Y%m%d%H%M%S)
        say "building zava-mcp:$tag in $registry"
        az acr build --registry "$registry" --image "zava-mcp:$tag" \
            --file "$root/Dockerfile" "$root" --output none
        image="$(output registryLoginServer)/zava-mcp:$tag"
    fi

    deploy "the init job with $image (2/3)" "image=$image" "deployServer=false"
    if [[ "$run_init" == true ]]; then
        run_init_job
    else
        say "skipping the init job (--skip-init): db/ is not applied"
    fi
    deploy "the server with $image (3/3)" "image=$image" "deployServer=true"

    local url
    url=$(output mcpUrl)
    cat <<EOF

zava-mcp is at $url (health: ${url%/mcp}/healthz)
Create API keys from inside the virtual network (docs/azure.md, "API keys"):
  az keyvault secret show --vault-name $(output keyVaultName) --name postgres-admin-url --query value --output tsv
  az containerapp exec --resource-group $resource_group --name $(output appName) --command bash
    read -rs DATABASE_URL && export DATABASE_URL   # paste the URL above
    zava-mcp keys create --user 00000000-0000-0000-0000-000000000000 --name "head office"
EOF
}

main "$@"
