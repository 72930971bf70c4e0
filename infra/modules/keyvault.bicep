// Key Vault (RBAC): the database passwords and DSNs and the Azure OpenAI key. The
// managed identity of the server and the init job reads them (Key Vault Secrets User);
// the operator who runs infra/deploy.sh may manage them (Key Vault Secrets Officer), so
// that a second deployment reuses the passwords of the first.

param location string
param vaultName string

@description('Principal id of the user-assigned identity of the server and the init job.')
param identityPrincipalId string

@description('Object id of the operator (empty: none).')
param operatorPrincipalId string = ''

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param operatorPrincipalType string = 'User'

param enablePurgeProtection bool = false

@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 7

param postgresHost string
param databaseName string
param administratorLogin string

@secure()
param administratorPassword string

param loginRole string = 'zava_server'

@secure()
param loginRolePassword string

param openAiAccountName string
param tags object = {}

var secretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6'
var secretsOfficerRoleId = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
var adminUser = uriComponent(administratorLogin)
var adminSecret = uriComponent(administratorPassword)
var loginSecret = uriComponent(loginRolePassword)

resource openAi 'Microsoft.CognitiveServices/accounts@2024-10-01' existing = {
  name: openAiAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: vaultName
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: enablePurgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
  }
}

resource adminPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'postgres-admin-password'
  properties: {
    value: administratorPassword
  }
}

// DATABASE_URL of the init job only; the server never gets it.
resource adminUrlSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'postgres-admin-url'
  properties: {
    value: 'postgresql://${adminUser}:${adminSecret}@${postgresHost}:5432/${databaseName}?sslmode=require'
  }
}

resource loginPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'zava-server-password'
  properties: {
    value: loginRolePassword
  }
}

// ZAVA_SERVER_DATABASE_URL: the server's login role.
resource loginUrlSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'zava-server-database-url'
  properties: {
    value: 'postgresql://${loginRole}:${loginSecret}@${postgresHost}:5432/${databaseName}?sslmode=require'
  }
}

resource openAiKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'azure-openai-api-key'
  properties: {
    value: openAi.listKeys().key1
  }
}

resource identityCanRead 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identityPrincipalId, secretsUserRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUserRoleId)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource operatorCanManage 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(vault.id, operatorPrincipalId, secretsOfficerRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsOfficerRoleId)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

output vaultName string = vault.name
output vaultUri string = vault.properties.vaultUri
// Container Apps must not resolve the references before the identity may read them.
output identityRoleAssignmentId string = identityCanRead.id
