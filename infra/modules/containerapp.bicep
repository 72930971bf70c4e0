// The Container Apps environment (in the virtual network, logs to Log Analytics), the
// init job that prepares the database (infra/docker/init-db.sh, as the administrator) and
// the server app (key checks and audit on the primary, tool calls on the read replica when
// there is one). Both run the same image with one user-assigned managed identity, which
// pulls the image and reads Key Vault references.

param location string
param prefix string
param environmentName string

@description('The Container Apps subnet (delegated to Microsoft.App/environments).')
param appsSubnetId string

param logAnalyticsWorkspaceName string

@description('Resource id of the user-assigned managed identity.')
param identityId string

param keyVaultUri string
param registryLoginServer string

@description('The server image; empty: deploy the environment only (first phase of deploy.sh).')
param image string = ''

@description('Deploy the server app (deploy.sh deploys the init job, runs it, then the app).')
param deployServer bool = true

param openAiEndpoint string
param openAiDeployment string

@description('Load the sample data when the database is empty (the init job).')
param seedSampleData bool = true

@description('Size of the sample data: 1 is about 200,000 orders.')
param seedScale string = '1'

@description('ZAVA_READ_URLS: URLs of the hot standbys that serve tool calls, separated by spaces, without user or password; empty: the primary serves them.')
param readUrls string = ''

param minReplicas int = 1
param maxReplicas int = 3
param tags object = {}

var appName = 'zava-mcp-${environmentName}'
var jobName = 'zava-init-${environmentName}'
var deployJob = !empty(image)
var deployApp = deployServer && !empty(image)

var registries = [
  {
    server: registryLoginServer
    identity: identityId
  }
]

// Both containers embed with Azure OpenAI (1536 dimensions).
var embeddingEnv = [
  {
    name: 'ZAVA_EMBEDDINGS'
    value: 'azure'
  }
  {
    name: 'AZURE_OPENAI_ENDPOINT'
    value: openAiEndpoint
  }
  {
    name: 'AZURE_OPENAI_DEPLOYMENT'
    value: openAiDeployment
  }
  {
    name: 'AZURE_OPENAI_API_KEY'
    secretRef: 'azure-openai-api-key'
  }
  {
    name: 'ZAVA_EMBEDDING_DIM'
    value: '1536'
  }
]

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: logAnalyticsWorkspaceName
}

resource environment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: '${prefix}-env'
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: workspace.properties.customerId
        sharedKey: workspace.listKeys().primarySharedKey
      }
    }
    vnetConfiguration: {
      infrastructureSubnetId: appsSubnetId
      internal: false
    }
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ]
  }
}

// Tool calls on the read replica, when there is one (the server falls back to the primary).
var readEnv = empty(readUrls) ? [] : [
  {
    name: 'ZAVA_READ_URLS'
    value: readUrls
  }
]

// Known before the app exists: the server accepts this Host and advertises this URL.
var fqdn = '${appName}.${environment.properties.defaultDomain}'

resource initJob 'Microsoft.App/jobs@2024-03-01' = if (deployJob) {
  name: jobName
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    environmentId: environment.id
    workloadProfileName: 'Consumption'
    configuration: {
      triggerType: 'Manual'
      replicaTimeout: 3600
      replicaRetryLimit: 0
      manualTriggerConfig: {
        parallelism: 1
        replicaCompletionCount: 1
      }
      registries: registries
      secrets: [
        {
          name: 'postgres-admin-url'
          keyVaultUrl: '${keyVaultUri}secrets/postgres-admin-url'
          identity: identityId
        }
        {
          name: 'zava-server-password'
          keyVaultUrl: '${keyVaultUri}secrets/zava-server-password'
          identity: identityId
        }
        {
          name: 'azure-openai-api-key'
          keyVaultUrl: '${keyVaultUri}secrets/azure-openai-api-key'
          identity: identityId
        }
      ]
    }
    template: {
      containers: [
        {
          name: 'zava-init'
          image: image
          command: [
            '/app/infra/docker/init-db.sh'
          ]
          resources: {
            cpu: json('1.0')
            memory: '2Gi'
          }
          env: concat(embeddingEnv, [
            {
              name: 'DATABASE_URL'
              secretRef: 'postgres-admin-url'
            }
            {
              name: 'ZAVA_SERVER_PASSWORD'
              secretRef: 'zava-server-password'
            }
            {
              name: 'ZAVA_SEED_IF_EMPTY'
              value: seedSampleData ? 'true' : 'false'
            }
            {
              name: 'ZAVA_SEED_SCALE'
              value: seedScale
            }
          ])
        }
      ]
    }
  }
}

resource app 'Microsoft.App/containerApps@2024-03-01' = if (deployApp) {
  name: appName
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    environmentId: environment.id
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: {
        external: true
        targetPort: 8000
        transport: 'auto'
        allowInsecure: false
      }
      registries: registries
      secrets: [
        {
          name: 'zava-server-database-url'
          keyVaultUrl: '${keyVaultUri}secrets/zava-server-database-url'
          identity: identityId
        }
        {
          name: 'azure-openai-api-key'
          keyVaultUrl: '${keyVaultUri}secrets/azure-openai-api-key'
          identity: identityId
        }
      ]
    }
    template: {
      containers: [
        {
          name: 'zava-mcp'
          image: image
          resources: {
            cpu: json('0.5')
            memory: '1Gi'
          }
          // No DATABASE_URL: the server connects only as its login role.
          env: concat(embeddingEnv, [
            {
              name: 'ZAVA_SERVER_DATABASE_URL'
              secretRef: 'zava-server-database-url'
            }
            {
              name: 'ZAVA_ALLOWED_HOSTS'
              value: fqdn
            }
            {
              name: 'ZAVA_PUBLIC_URL'
              value: 'https://${fqdn}'
            }
            {
              name: 'ZAVA_STATELESS'
              value: 'true'
            }
          ], readEnv)
          // /healthz is 200 when the database answers: a replica takes traffic only then.
          // Liveness checks the port only, so that a database outage does not restart
          // replicas that would come back no better.
          probes: [
            {
              type: 'Startup'
              httpGet: {
                path: '/healthz'
                port: 8000
              }
              // Up to about two minutes (failureThreshold is at most 10).
              initialDelaySeconds: 10
              periodSeconds: 10
              failureThreshold: 10
            }
            {
              type: 'Readiness'
              httpGet: {
                path: '/healthz'
                port: 8000
              }
              periodSeconds: 10
              failureThreshold: 3
            }
            {
              type: 'Liveness'
              tcpSocket: {
                port: 8000
              }
              periodSeconds: 20
              failureThreshold: 3
            }
          ]
        }
      ]
      scale: {
        minReplicas: minReplicas
        maxReplicas: maxReplicas
        rules: [
          {
            name: 'http'
            http: {
              metadata: {
                concurrentRequests: '50'
              }
            }
          }
        ]
      }
    }
  }
}

output environmentName string = environment.name
output appName string = appName
output jobName string = jobName
output fqdn string = fqdn
