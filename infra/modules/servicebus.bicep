// The Service Bus namespace (Standard, because topics need it) with the queues, topics,
// subscriptions and rules declared in infra/servicebus/Config.json, the file that also
// configures the Service Bus emulator and the embedded broker. Keys are disabled.
//
// The emulator's format names properties in PascalCase; this module maps each one onto its
// Azure Resource Manager property. A property the file leaves out takes the Azure default.

param location string
param tags object
param name string

var entities = loadJsonContent('../servicebus/Config.json').UserConfig.Namespaces[0]

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource queues 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = [
  for queue in entities.Queues: {
    parent: namespace
    name: queue.Name
    properties: {
      deadLetteringOnMessageExpiration: queue.Properties.?DeadLetteringOnMessageExpiration
      defaultMessageTimeToLive: queue.Properties.?DefaultMessageTimeToLive
      duplicateDetectionHistoryTimeWindow: queue.Properties.?DuplicateDetectionHistoryTimeWindow
      forwardDeadLetteredMessagesTo: empty(queue.Properties.?ForwardDeadLetteredMessagesTo ?? '') ? null : queue.Properties.ForwardDeadLetteredMessagesTo
      forwardTo: empty(queue.Properties.?ForwardTo ?? '') ? null : queue.Properties.ForwardTo
      lockDuration: queue.Properties.?LockDuration
      maxDeliveryCount: queue.Properties.?MaxDeliveryCount
      requiresDuplicateDetection: queue.Properties.?RequiresDuplicateDetection
      requiresSession: queue.Properties.?RequiresSession
    }
  }
]

resource topics 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' = [
  for topic in entities.Topics: {
    parent: namespace
    name: topic.Name
    properties: {
      defaultMessageTimeToLive: topic.Properties.?DefaultMessageTimeToLive
      duplicateDetectionHistoryTimeWindow: topic.Properties.?DuplicateDetectionHistoryTimeWindow
      requiresDuplicateDetection: topic.Properties.?RequiresDuplicateDetection
    }
  }
]

// Bicep has no nested resource loops, so each topic's subscriptions come from a module.
module subscriptions 'servicebus-subscriptions.bicep' = [
  for (topic, index) in entities.Topics: {
    name: 'servicebus-${topic.Name}'
    params: {
      namespaceName: namespace.name
      topicName: topics[index].name
      subscriptions: topic.Subscriptions
    }
  }
]

output name string = namespace.name
// The host name the Service Bus SDK and the Functions trigger connect to, taken from the
// endpoint (`https://<name>.servicebus.windows.net:443/`) so that other clouds work too.
output fullyQualifiedNamespace string = split(split(namespace.properties.serviceBusEndpoint, '/')[2], ':')[0]
