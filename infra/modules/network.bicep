// The virtual network: one subnet for the Container Apps environment, one delegated to
// PostgreSQL Flexible Server (private access), and the private DNS zone that resolves the
// server's name inside the network.

@description('Azure region.')
param location string

@description('Name prefix, e.g. zava-dev.')
param prefix string

@description('The PostgreSQL server name; its private DNS zone is named after it.')
param postgresServerName string

@description('The address space of the virtual network.')
param addressPrefix string = '10.40.0.0/16'

@description('The Container Apps subnet (a /27 at least, for a workload profiles environment).')
param appsSubnetPrefix string = '10.40.0.0/23'

@description('The subnet delegated to PostgreSQL Flexible Server.')
param postgresSubnetPrefix string = '10.40.2.0/24'

param tags object = {}

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: '${prefix}-vnet'
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: 'apps'
        properties: {
          addressPrefix: appsSubnetPrefix
          delegations: [
            {
              name: 'container-apps'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: 'postgres'
        properties: {
          addressPrefix: postgresSubnetPrefix
          delegations: [
            {
              name: 'postgres-flexible-server'
              properties: {
                serviceName: 'Microsoft.DBforPostgreSQL/flexibleServers'
              }
            }
          ]
        }
      }
    ]
  }
}

resource dnsZone 'Microsoft.Network/privateDnsZones@2024-06-01' = {
  name: '${postgresServerName}.private.postgres.database.azure.com'
  location: 'global'
  tags: tags
}

resource dnsLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = {
  parent: dnsZone
  name: '${prefix}-vnet-link'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnet.id
    }
  }
}

output vnetId string = vnet.id
output appsSubnetId string = vnet.properties.subnets[0].id
output postgresSubnetId string = vnet.properties.subnets[1].id
output privateDnsZoneId string = dnsZone.id
// The server must not be created before the zone is linked to the network.
output privateDnsZoneLinkId string = dnsLink.id
