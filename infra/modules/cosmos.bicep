// Cosmos DB (serverless, NoSQL API) with the Orders and Shipments databases. Keys are
// disabled: the app signs in with its managed identity and a data-plane role.

param location string
param tags object
param name string
param ordersDatabaseName string
param shipmentsDatabaseName string

// Containers and partition keys the app's Cosmos adapter reads and writes.
var containers = [
  {
    database: ordersDatabaseName
    name: 'orders'
    partitionKey: '/id'
  }
  {
    database: ordersDatabaseName
    name: 'stock'
    partitionKey: '/storeId'
  }
  {
    database: shipmentsDatabaseName
    name: 'shipments'
    partitionKey: '/orderId'
  }
]

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  // checkov:skip=CKV_AZURE_99:No virtual network in this deployment; keys are disabled and access is by Entra ID data-plane role only
  // checkov:skip=CKV_AZURE_101:Same reason as CKV_AZURE_99: the Function App reaches Cosmos DB over its public endpoint
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    capabilities: [
      {
        name: 'EnableServerless'
      }
    ]
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
  }
}

resource ordersDatabase 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: account
  name: ordersDatabaseName
  properties: {
    resource: {
      id: ordersDatabaseName
    }
  }
}

resource shipmentsDatabase 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: account
  name: shipmentsDatabaseName
  properties: {
    resource: {
      id: shipmentsDatabaseName
    }
  }
}

resource containerResources 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = [
  for container in containers: {
    name: '${account.name}/${container.database}/${container.name}'
    properties: {
      resource: {
        id: container.name
        partitionKey: {
          paths: [
            container.partitionKey
          ]
          kind: 'Hash'
        }
      }
    }
    dependsOn: [
      ordersDatabase
      shipmentsDatabase
    ]
  }
]

output name string = account.name
output endpoint string = account.properties.documentEndpoint
