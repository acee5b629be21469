// One subscription's filter rules from the emulator-format entries in
// infra/servicebus/Config.json: `FilterType` `Sql` or `Correlation`, and an optional SQL action.

param namespaceName string
param topicName string
param subscriptionName string
@description('The subscription\'s `Rules` entries from infra/servicebus/Config.json.')
param rules array

// Each rule's filters and action in Azure Resource Manager form, by the rule's position.
var sqlFilters = [
  for rule in rules: {
    sqlExpression: rule.Properties.?SqlFilter.?SqlExpression
  }
]
var correlationFilters = [
  for rule in rules: {
    contentType: rule.Properties.?CorrelationFilter.?ContentType
    correlationId: rule.Properties.?CorrelationFilter.?CorrelationId
    label: rule.Properties.?CorrelationFilter.?Label
    messageId: rule.Properties.?CorrelationFilter.?MessageId
    replyTo: rule.Properties.?CorrelationFilter.?ReplyTo
    replyToSessionId: rule.Properties.?CorrelationFilter.?ReplyToSessionId
    sessionId: rule.Properties.?CorrelationFilter.?SessionId
    to: rule.Properties.?CorrelationFilter.?To
    properties: rule.Properties.?CorrelationFilter.?Properties
  }
]
var actions = [
  for rule in rules: {
    sqlExpression: rule.Properties.?Action.?SqlExpression
  }
]

resource subscription 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' existing = {
  name: '${namespaceName}/${topicName}/${subscriptionName}'
}

resource subscriptionRules 'Microsoft.ServiceBus/namespaces/topics/subscriptions/rules@2024-01-01' = [
  for (rule, index) in rules: {
    parent: subscription
    name: rule.Name
    properties: {
      filterType: '${rule.Properties.FilterType}Filter'
      sqlFilter: rule.Properties.FilterType == 'Sql' ? sqlFilters[index] : null
      correlationFilter: rule.Properties.FilterType == 'Correlation' ? correlationFilters[index] : null
      action: contains(rule.Properties, 'Action') ? actions[index] : null
    }
  }
]
