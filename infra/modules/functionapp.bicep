// The Function App on the Flex Consumption plan (FC1): Python 3.11, system-assigned identity,
// app package pulled from blob storage with that identity.

param location string
param tags object
param name string
param planName string
param storageBlobEndpoint string
param deploymentContainerName string
param maximumInstanceCount int
@description('App settings by name; Flex Consumption sets the runtime itself, so no FUNCTIONS_* settings.')
param appSettings object

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:Zone redundancy on Flex Consumption needs always-ready instances in a subset of regions; the reference deployment scales to zero
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222:API Management on the Consumption tier cannot join a virtual network, so the Function App keeps its public endpoint and requires a function key
  // checkov:skip=CKV_AZURE_17:Callers authenticate to API Management with a subscription key and the gateway to the app with a function key, not a client certificate
  // checkov:skip=CKV_AZURE_212:Flex Consumption scales from zero on demand; a minimum instance count would be always-ready instances billed while idle
  // checkov:skip=CKV_AZURE_213:The App Service health check does not apply to Flex Consumption, which scales on triggers
  name: name
  location: location
  // azd finds the service to deploy to by this tag; `api` is the service name in azure.yaml.
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: 2048
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_13:This resource holds app settings only; callers authenticate with function keys behind API Management
  // checkov:skip=CKV_AZURE_63:This resource holds app settings only; the host's logs go to Application Insights
  // checkov:skip=CKV_AZURE_65:This resource holds app settings only; the host's logs go to Application Insights
  // checkov:skip=CKV_AZURE_66:This resource holds app settings only; the host's logs go to Application Insights
  // checkov:skip=CKV_AZURE_80:This resource holds app settings only, and the app runs Python, not .NET Framework
  // checkov:skip=CKV_AZURE_88:This resource holds app settings only; Flex Consumption apps have no Azure Files content share
  // checkov:skip=CKV_AZURE_222:This resource holds app settings only; network access is set on the site
  parent: functionApp
  name: 'appsettings'
  properties: appSettings
}

// Deployments authenticate with Entra ID (azd uses it), so publishing with a user name and
// password stays off.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = functionApp.name
output url string = 'https://${functionApp.properties.defaultHostName}'
output principalId string = functionApp.identity.principalId
