// AJ Bikes on Azure: one resource group with the Function App (Flex Consumption), its storage,
// Cosmos DB, Service Bus, API Management and monitoring, every connection keyless.
//
// Subscription scope so that `azd up` creates the resource group and `azd down` removes it.
targetScope = 'subscription'

@minLength(1)
@maxLength(48)
@description('azd environment name; names the resource group and tags every resource.')
param environmentName string

@minLength(1)
@description('Azure region for every resource; it must offer the Flex Consumption plan.')
param location string

@description('Object id of the deploying user, given data-plane access to inspect the system; empty for none.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
])
@description('Kind of principal `principalId` names.')
param principalType string = 'User'

@description('E-mail address API Management sends its service notifications to.')
param apimPublisherEmail string = 'noreply@example.com'

@description('Seconds the saga waits for the carrier to dispatch before it cancels the order.')
param dispatchDeadlineSeconds int = 172800

@description('Seconds the saga waits for delivery after dispatch before it returns the order.')
param deliveryDeadlineSeconds int = 1209600

@description('Milliseconds before the first retry of a failed activity; later retries back off.')
param activityRetryFirstIntervalMs int = 1000

@description('Attempts per activity, the first included, before the saga compensates.')
param activityRetryMaxAttempts int = 3

@minValue(40)
@maxValue(1000)
@description('Maximum Flex Consumption instances the app scales out to.')
param maximumInstanceCount int = 100

var tags = {
  'azd-env-name': environmentName
}
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var ordersDatabaseName = 'orders'
var shipmentsDatabaseName = 'shipments'
var functionAppName = 'func-${resourceToken}'
var applicationInsightsName = 'appi-${resourceToken}'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: applicationInsightsName
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'st${resourceToken}'
    deploymentContainerName: 'app-package-${functionAppName}'
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'cosmos-${resourceToken}'
    ordersDatabaseName: ordersDatabaseName
    shipmentsDatabaseName: shipmentsDatabaseName
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'sb-${resourceToken}'
  }
}

// Read here rather than passed as a module output, so that no output carries a connection string.
resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  scope: rg
  name: applicationInsightsName
}

// The settings the app reads (adapters/settings.py) and the identity-based connections the
// Functions host and bindings read. No value carries a key.
var appSettings = {
  AzureWebJobsStorage__accountName: storage.outputs.name
  AzureWebJobsStorage__credential: 'managedidentity'
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'
  // The Python worker hands each invocation its OpenTelemetry context, so app spans join the
  // host's trace.
  PYTHON_ENABLE_OPENTELEMETRY: 'true'
  COSMOS__accountEndpoint: cosmos.outputs.endpoint
  COSMOS_ORDERS_DATABASE: ordersDatabaseName
  COSMOS_SHIPMENTS_DATABASE: shipmentsDatabaseName
  SERVICEBUS__fullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
  SAGA_DISPATCH_DEADLINE_SECONDS: string(dispatchDeadlineSeconds)
  SAGA_DELIVERY_DEADLINE_SECONDS: string(deliveryDeadlineSeconds)
  ACTIVITY_RETRY_FIRST_INTERVAL_MS: string(activityRetryFirstIntervalMs)
  ACTIVITY_RETRY_MAX_ATTEMPTS: string(activityRetryMaxAttempts)
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    location: location
    tags: tags
    name: functionAppName
    planName: 'plan-${resourceToken}'
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    maximumInstanceCount: maximumInstanceCount
    appSettings: appSettings
  }
  // The app settings read the Application Insights component, which the monitoring module creates.
  dependsOn: [
    monitoring
  ]
}

module appAccess 'modules/access.bicep' = {
  name: 'access-app'
  scope: rg
  params: {
    principalId: functionApp.outputs.principalId
    principalType: 'ServicePrincipal'
    storageAccountName: storage.outputs.name
    cosmosAccountName: cosmos.outputs.name
    serviceBusNamespaceName: serviceBus.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

module userAccess 'modules/access.bicep' = if (!empty(principalId)) {
  name: 'access-user'
  scope: rg
  params: {
    principalId: principalId
    principalType: principalType
    storageAccountName: storage.outputs.name
    cosmosAccountName: cosmos.outputs.name
    serviceBusNamespaceName: serviceBus.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

module apim 'modules/apim.bicep' = {
  name: 'apim'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'apim-${resourceToken}'
    publisherEmail: apimPublisherEmail
    functionAppName: functionApp.outputs.name
  }
  // The host must reach its storage before it can list its keys.
  dependsOn: [
    appAccess
  ]
}

// Read by azd (service lookup, `azd env get-values`) and by docs/deploy.md. No secret here.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_URL string = functionApp.outputs.url
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output AZURE_SERVICEBUS_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output AZURE_APIM_NAME string = apim.outputs.name
output AZURE_APIM_GATEWAY_URL string = apim.outputs.gatewayUrl
output AZURE_APIM_SUBSCRIPTION_NAME string = apim.outputs.subscriptionName
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
