// Azure OpenAI with a text-embedding-3-small deployment: the server embeds search texts
// with it, the init job embeds product descriptions (1536 dimensions).

param location string
param accountName string

@description('Deployment name; zava-mcp records it as the model of every vector.')
param deploymentName string = 'text-embedding-3-small'

param modelVersion string = '1'

@allowed([
  'Standard'
  'GlobalStandard'
])
param skuName string = 'Standard'

@description('Capacity in thousands of tokens per minute.')
param capacity int = 120

param tags object = {}

resource account 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  name: accountName
  location: location
  tags: tags
  kind: 'OpenAI'
  sku: {
    name: 'S0'
  }
  properties: {
    customSubDomainName: accountName
    publicNetworkAccess: 'Enabled'
    // zava-mcp authenticates to Azure OpenAI with a key (AZURE_OPENAI_API_KEY), kept in
    // Key Vault.
    disableLocalAuth: false
  }
}

resource embeddings 'Microsoft.CognitiveServices/accounts/deployments@2024-10-01' = {
  parent: account
  name: deploymentName
  sku: {
    name: skuName
    capacity: capacity
  }
  properties: {
    model: {
      format: 'OpenAI'
      name: 'text-embedding-3-small'
      version: modelVersion
    }
  }
}

output accountName string = account.name
output endpoint string = account.properties.endpoint
output deploymentName string = embeddings.name
