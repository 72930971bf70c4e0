// Azure Database for PostgreSQL Flexible Server: private access only (a delegated subnet
// and a private DNS zone), Microsoft Entra authentication next to passwords (the server's
// login roles use passwords), pgvector allow-listed, and the zava database. Optionally a
// read replica (a hot standby fed by streaming replication) in the same subnet and DNS
// zone, which serves the tool calls (ZAVA_READ_URLS).

param location string
param serverName string

@allowed([
  '16'
  '17'
])
param version string = '16'

param skuName string = 'Standard_B1ms'

@allowed([
  'Burstable'
  'GeneralPurpose'
  'MemoryOptimized'
])
param skuTier string = 'Burstable'

param storageSizeGB int = 32
param backupRetentionDays int = 7

@allowed([
  'Disabled'
  'SameZone'
  'ZoneRedundant'
])
param highAvailability string = 'Disabled'

param administratorLogin string

@secure()
param administratorPassword string

@description('The subnet delegated to Microsoft.DBforPostgreSQL/flexibleServers.')
param delegatedSubnetId string

@description('The private DNS zone (<server>.private.postgres.database.azure.com).')
param privateDnsZoneId string

@description('The Microsoft Entra administrator: object id (empty: none).')
param entraAdminObjectId string = ''
param entraAdminPrincipalName string = ''

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param entraAdminPrincipalType string = 'User'

param databaseName string = 'zava'

@description('Create a read replica of the server (not on the Burstable tier: Azure refuses it).')
param readReplica bool = false

@description('The read replica exists already: it is created once (createMode Replica), then updated.')
param replicaExists bool = false

param tags object = {}

var replicaName = '${serverName}-replica'

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: serverName
  location: location
  tags: tags
  sku: {
    name: skuName
    tier: skuTier
  }
  properties: {
    version: version
    administratorLogin: administratorLogin
    administratorLoginPassword: administratorPassword
    authConfig: {
      activeDirectoryAuth: 'Enabled'
      passwordAuth: 'Enabled'
      tenantId: tenant().tenantId
    }
    storage: {
      storageSizeGB: storageSizeGB
      autoGrow: 'Enabled'
    }
    backup: {
      backupRetentionDays: backupRetentionDays
      geoRedundantBackup: 'Disabled'
    }
    highAvailability: {
      mode: highAvailability
    }
    network: {
      delegatedSubnetResourceId: delegatedSubnetId
      privateDnsZoneArmResourceId: privateDnsZoneId
      publicNetworkAccess: 'Disabled'
    }
  }
}

// pgvector: extensions must be allow-listed before CREATE EXTENSION (db/roles.sql runs it).
resource extensions 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'azure.extensions'
  properties: {
    value: 'VECTOR'
    source: 'user-defined'
  }
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: server
  name: databaseName
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
  // One change at a time: the server refuses concurrent updates.
  dependsOn: [
    extensions
  ]
}

resource entraAdmin 'Microsoft.DBforPostgreSQL/flexibleServers/administrators@2024-08-01' = if (!empty(entraAdminObjectId)) {
  parent: server
  name: empty(entraAdminObjectId) ? 'none' : entraAdminObjectId
  properties: {
    principalName: entraAdminPrincipalName
    principalType: entraAdminPrincipalType
    tenantId: tenant().tenantId
  }
  dependsOn: [
    database
  ]
}

// The read replica starts as a copy of the server (its data, roles and server parameters,
// hence after azure.extensions and the database) and then replays every change the server
// makes, roles and passwords included, as a hot standby. It takes no backups and has no
// high availability of its own. Same size as the server (Azure wants at least that), same
// subnet and private DNS zone, no public access. A second PUT with createMode Replica is
// refused (a server with that name exists), so createMode and the source are sent only
// when the replica is created: deploy.sh sets replicaExists once it exists.
resource replica 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = if (readReplica) {
  name: replicaName
  location: location
  // deploy.sh finds an existing replica by this tag.
  tags: union(tags, {
    'zava-role': 'read-replica'
  })
  sku: {
    name: skuName
    tier: skuTier
  }
  properties: {
    createMode: replicaExists ? null : 'Replica'
    sourceServerResourceId: replicaExists ? null : server.id
    version: version
    authConfig: {
      activeDirectoryAuth: 'Enabled'
      passwordAuth: 'Enabled'
      tenantId: tenant().tenantId
    }
    storage: {
      storageSizeGB: storageSizeGB
      autoGrow: 'Enabled'
    }
    highAvailability: {
      mode: 'Disabled'
    }
    network: {
      delegatedSubnetResourceId: delegatedSubnetId
      privateDnsZoneArmResourceId: privateDnsZoneId
      publicNetworkAccess: 'Disabled'
    }
  }
  // Creating a replica puts the server in an updating state that refuses other changes.
  dependsOn: [
    database
    entraAdmin
  ]
}

// The replica's host: its name in the server's domain (postgres.database.azure.com in the
// public cloud), rather than replica.properties.fullyQualifiedDomainName, which the
// response that creates a replica has been reported to lack
// (Azure/bicep-registry-modules#4776).
var serverDomain = join(skip(split(server.properties.fullyQualifiedDomainName, '.'), 1), '.')

output serverName string = server.name
output host string = server.properties.fullyQualifiedDomainName
output databaseName string = database.name
output replicaName string = readReplica ? replicaName : ''
output replicaHost string = readReplica ? '${replicaName}.${serverDomain}' : ''
