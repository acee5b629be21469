// One topic's subscriptions, and a rules module for each, from the emulator-format entries
// in infra/servicebus/Config.json.

param namespaceName string
param topicName string
@description('The topic\'s `Subscriptions` entries from infra/servicebus/Config.json.')
param subscriptions array

resource topic 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' existing = {
  name: '${namespaceName}/${topicName}'
}

resource topicSubscriptions 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' = [
  for subscription in subscriptions: {
    parent: topic
    name: subscription.Name
    properties: {
      deadLetteringOnMessageExpiration: subscription.Properties.?DeadLetteringOnMessageExpiration
      defaultMessageTimeToLive: subscription.Properties.?DefaultMessageTimeToLive
      forwardDeadLetteredMessagesTo: empty(subscription.Properties.?ForwardDeadLetteredMessagesTo ?? '') ? null : subscription.Properties.ForwardDeadLetteredMessagesTo
      forwardTo: empty(subscription.Properties.?ForwardTo ?? '') ? null : subscription.Properties.ForwardTo
      lockDuration: subscription.Properties.?LockDuration
      maxDeliveryCount: subscription.Properties.?MaxDeliveryCount
      requiresSession: subscription.Properties.?RequiresSession
    }
  }
]

// NOTE: Service Bus gives a new subscription a `$Default` rule that matches every message and
// drops it once another rule is created, so a filtered subscription receives everything for
// the seconds between the two steps of its first deployment.
// A subscription without rules gets a module with nothing in it, which deploys as a no-op.
module rules 'servicebus-rules.bicep' = [
  for (subscription, index) in subscriptions: {
    name: 'servicebus-${topicName}-${subscription.Name}'
    params: {
      namespaceName: namespaceName
      topicName: topicName
      subscriptionName: topicSubscriptions[index].name
      rules: subscription.?Rules ?? []
    }
  }
]
