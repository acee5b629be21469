// API Management (Consumption) in front of the Function App: the API imported from
// apim/openapi.yaml, the policies from apim/policies/, the named values from
// apim/named-values.json, and one product with one subscription.
//
// The apim/ folder is the single source for this gateway and devhost's local gateway.

param location string
param tags object
param name string
param publisherEmail string
param functionAppName string

var namedValueDefinitions = loadJsonContent('../../apim/named-values.json')

// Named values that apim/named-values.json leaves to the host, filled here from the
// Function App. The function key is read at deployment time and stored as a secret named
// value, so it never appears in a template, an output or the API's responses.
var hostNamedValues = {
  'functions-base-url': {
    value: 'https://${functionApp.properties.defaultHostName}'
    secret: false
  }
  'functions-key': {
    value: listKeys('${functionApp.id}/host/default', '2024-04-01').functionKeys.default
    secret: true
  }
}

// Operation-scope policies, one file per operationId in apim/policies/operations/.
var operationPolicies = [
  {
    operationId: 'placeOrder'
    policy: loadTextContent('../../apim/policies/operations/placeOrder.xml')
  }
  {
    operationId: 'cancelOrder'
    policy: loadTextContent('../../apim/policies/operations/cancelOrder.xml')
  }
]

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource service 'Microsoft.ApiManagement/service@2022-08-01' = {
  // checkov:skip=CKV_AZURE_107:The Consumption tier cannot join a virtual network
  // checkov:skip=CKV_AZURE_174:The gateway is the public entry point of the API; every call needs a subscription key
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Consumption'
    capacity: 0
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    publisherEmail: publisherEmail
    publisherName: 'AJ Bikes'
  }
}

resource namedValues 'Microsoft.ApiManagement/service/namedValues@2022-08-01' = [
  for definition in items(namedValueDefinitions): {
    parent: service
    name: definition.key
    properties: {
      displayName: definition.key
      secret: contains(hostNamedValues, definition.key) ? hostNamedValues[definition.key].secret : definition.value.?secret ?? false
      value: contains(hostNamedValues, definition.key) ? hostNamedValues[definition.key].value : definition.value.?value
    }
  }
]

resource globalPolicy 'Microsoft.ApiManagement/service/policies@2022-08-01' = {
  parent: service
  name: 'policy'
  properties: {
    format: 'rawxml'
    value: loadTextContent('../../apim/policies/global.xml')
  }
  dependsOn: [
    namedValues
  ]
}

resource api 'Microsoft.ApiManagement/service/apis@2022-08-01' = {
  parent: service
  name: 'ajbikes-orders'
  properties: {
    displayName: 'AJ Bikes Orders API'
    format: 'openapi'
    value: loadTextContent('../../apim/openapi.yaml')
    path: ''
    protocols: [
      'https'
    ]
    serviceUrl: 'https://${functionApp.properties.defaultHostName}/api'
    subscriptionRequired: true
    subscriptionKeyParameterNames: {
      header: 'Ocp-Apim-Subscription-Key'
      query: 'subscription-key'
    }
  }
}

resource apiPolicy 'Microsoft.ApiManagement/service/apis/policies@2022-08-01' = {
  parent: api
  name: 'policy'
  properties: {
    format: 'rawxml'
    value: loadTextContent('../../apim/policies/api.xml')
  }
  dependsOn: [
    namedValues
  ]
}

resource operationPolicyResources 'Microsoft.ApiManagement/service/apis/operations/policies@2022-08-01' = [
  for operation in operationPolicies: {
    name: '${service.name}/${api.name}/${operation.operationId}/policy'
    properties: {
      format: 'rawxml'
      value: operation.policy
    }
    dependsOn: [
      namedValues
    ]
  }
]

resource product 'Microsoft.ApiManagement/service/products@2022-08-01' = {
  parent: service
  name: 'ajbikes'
  properties: {
    displayName: 'AJ Bikes'
    description: 'Place orders and follow them to delivery.'
    subscriptionRequired: true
    approvalRequired: false
    state: 'published'
  }
}

resource productApi 'Microsoft.ApiManagement/service/products/apis@2022-08-01' = {
  parent: product
  name: api.name
}

resource subscription 'Microsoft.ApiManagement/service/subscriptions@2022-08-01' = {
  parent: service
  name: 'ajbikes-default'
  properties: {
    displayName: 'AJ Bikes default subscription'
    scope: '/products/${product.name}'
    state: 'active'
  }
}

output name string = service.name
output gatewayUrl string = service.properties.gatewayUrl
output subscriptionName string = subscription.name
