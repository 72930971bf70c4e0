// zava-mcp on Azure, in one resource group:
//   PostgreSQL Flexible Server (private access, Entra auth, pgvector allow-listed),
//   Container Apps (the server, and the job that applies db/), a user-assigned managed
//   identity, Azure OpenAI text-embedding-3-small, Key Vault, Log Analytics, a registry.
// Optionally a read replica of PostgreSQL (readReplica) that serves the tool calls.
// Deploy with infra/deploy.sh (docs/azure.md), which runs it in three phases: the
// infrastructure (no image), the init job (image, deployServer=false), then the server.

targetScope = 'resourceGroup'

@description('dev or prod: names, sizes and the parameter file (infra/main.<env>.parameters.json).')
@allowed([
  'dev'
  'prod'
])
param environmentName string

param location string = resourceGroup().location

@description('Region of the Azure OpenAI account (text-embedding-3-small is not offered everywhere).')
param openAiLocation string = location

@allowed([
  '16'
  '17'
])
param postgresVersion string = '16'

param postgresSkuName string = 'Standard_B1ms'

@allowed([
  'Burstable'
  'GeneralPurpose'
  'MemoryOptimized'
])
param postgresSkuTier string = 'Burstable'

param postgresStorageSizeGB int = 32
param postgresBackupRetentionDays int = 7

@allowed([
  'Disabled'
  'SameZone'
  'ZoneRedundant'
])
param postgresHighAvailability string = 'Disabled'

@description('The PostgreSQL administrator: only the init job connects as it.')
param postgresAdminLogin string = 'zavaadmin'

@secure()
@description('The administrator password (deploy.sh generates one, then reuses it from Key Vault).')
param postgresAdminPassword string

@secure()
@description('The password of the login role zava_server, the role the server connects as.')
param zavaServerPassword string

@description('A read replica of PostgreSQL that serves the tool calls (ZAVA_READ_URLS); key checks and audit stay on the primary. Not on the Burstable tier.')
param readReplica bool = false

@description('The read replica exists already (deploy.sh sets this): it is created once, then updated.')
param readReplicaExists bool = false

@description('Microsoft Entra administrator of PostgreSQL: object id (empty: none).')
param entraAdminObjectId string = ''

@description('Microsoft Entra administrator of PostgreSQL: user principal name or display name.')
param entraAdminPrincipalName string = ''

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param entraAdminPrincipalType string = 'User'

@description('Object id of whoever runs deploy.sh: may manage the Key Vault secrets (empty: nobody).')
param operatorPrincipalId string = ''

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param operatorPrincipalType string = 'User'

@description('The server image, e.g. <registry>.azurecr.io/zava-mcp:<tag>; empty: infrastructure only.')
param image string = ''

@description('Deploy the server app (false: the init job only, so that db/ is applied first).')
param deployServer bool = true

@description('Load the sample data into an empty database.')
param seedSampleData bool = true

@description('Size of the sample data (1: about 200,000 orders).')
param seedScale string = '1'

@allowed([
  'Standard'
  'GlobalStandard'
])
param embeddingSkuName string = 'Standard'

@description('text-embedding-3-small capacity, in thousands of tokens per minute.')
param embeddingCapacity int = 120

param minReplicas int = 1
param maxReplicas int = 3
param logRetentionInDays int = 30
param keyVaultPurgeProtection bool = false

param tags object = {
  application: 'zava-mcp'
  environment: environmentName
}

var prefix = 'zava-${environmentName}'
var suffix = uniqueString(resourceGroup().id, environmentName)
var postgresServerName = '${prefix}-pg-${suffix}'
var vaultName = 'kv-${prefix}-${take(suffix, 8)}'
var registryName = 'zava${environmentName}${suffix}'
var openAiAccountName = '${prefix}-oai-${suffix}'

// The identity of the server app and the init job: pulls the image, reads Key Vault.
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${prefix}-identity'
  location: location
  tags: tags
}

module network 'modules/network.bicep' = {
  name: 'network'
  params: {
    location: location
    prefix: prefix
    postgresServerName: postgresServerName
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    prefix: prefix
    retentionInDays: logRetentionInDays
    tags: tags
  }
}

module postgres 'modules/postgres.bicep' = {
  name: 'postgres'
  params: {
    location: location
    serverName: postgresServerName
    version: postgresVersion
    skuName: postgresSkuName
    skuTier: postgresSkuTier
    storageSizeGB: postgresStorageSizeGB
    backupRetentionDays: postgresBackupRetentionDays
    highAvailability: postgresHighAvailability
    administratorLogin: postgresAdminLogin
    administratorPassword: postgresAdminPassword
    delegatedSubnetId: network.outputs.postgresSubnetId
    privateDnsZoneId: network.outputs.privateDnsZoneId
    entraAdminObjectId: entraAdminObjectId
    entraAdminPrincipalName: entraAdminPrincipalName
    entraAdminPrincipalType: entraAdminPrincipalType
    readReplica: readReplica
    replicaExists: readReplicaExists
    tags: tags
  }
  dependsOn: [
    network
  ]
}

// The server's ZAVA_READ_URLS: the replica, same database. No user or password: the server
// logs in to the replica as it does to the primary, with one role per principal.
var replicaUrl = 'postgresql://${postgres.outputs.replicaHost}:5432/${postgres.outputs.databaseName}?sslmode=require'

module openAi 'modules/openai.bicep' = {
  name: 'openai'
  params: {
    location: openAiLocation
    accountName: openAiAccountName
    skuName: embeddingSkuName
    capacity: embeddingCapacity
    tags: tags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    location: location
    vaultName: vaultName
    identityPrincipalId: identity.properties.principalId
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: operatorPrincipalType
    enablePurgeProtection: keyVaultPurgeProtection
    softDeleteRetentionInDays: keyVaultPurgeProtection ? 90 : 7
    postgresHost: postgres.outputs.host
    databaseName: postgres.outputs.databaseName
    administratorLogin: postgresAdminLogin
    administratorPassword: postgresAdminPassword
    loginRolePassword: zavaServerPassword
    openAiAccountName: openAi.outputs.accountName
    tags: tags
  }
}

module registry 'modules/registry.bicep' = {
  name: 'registry'
  params: {
    location: location
    registryName: registryName
    identityPrincipalId: identity.properties.principalId
    tags: tags
  }
}

module apps 'modules/containerapp.bicep' = {
  name: 'containerapps'
  params: {
    location: location
    prefix: prefix
    environmentName: environmentName
    appsSubnetId: network.outputs.appsSubnetId
    logAnalyticsWorkspaceName: monitoring.outputs.workspaceName
    identityId: identity.id
    keyVaultUri: keyVault.outputs.vaultUri
    registryLoginServer: registry.outputs.loginServer
    image: image
    deployServer: deployServer
    openAiEndpoint: openAi.outputs.endpoint
    openAiDeployment: openAi.outputs.deploymentName
    seedSampleData: seedSampleData
    seedScale: seedScale
    readUrls: readReplica ? replicaUrl : ''
    minReplicas: minReplicas
    maxReplicas: maxReplicas
    tags: tags
  }
  // The identity must be able to read the secrets and pull the image first.
  dependsOn: [
    keyVault
    registry
  ]
}

output keyVaultName string = keyVault.outputs.vaultName
output registryName string = registry.outputs.registryName
output registryLoginServer string = registry.outputs.loginServer
output postgresServerName string = postgres.outputs.serverName
output postgresHost string = postgres.outputs.host
output postgresReplicaName string = postgres.outputs.replicaName
output postgresReplicaHost string = postgres.outputs.replicaHost
output openAiEndpoint string = openAi.outputs.endpoint
output containerAppsEnvironment string = apps.outputs.environmentName
output initJobName string = apps.outputs.jobName
output appName string = apps.outputs.appName
output appUrl string = 'https://${apps.outputs.fqdn}'
output mcpUrl string = 'https://${apps.outputs.fqdn}/mcp'
