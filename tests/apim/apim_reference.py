"""Policy elements and attributes as the Azure API Management policy reference documents them.

Taken from the policy reference index (learn.microsoft.com/azure/api-management/
api-management-policies, revision of 2024-03-28) and, for the elements apim/policies uses,
from each policy's own page. The tests check apim/policies against this list, not against
what the devhost gateway implements, so the files stay valid for API Management itself.
"""

SECTIONS = frozenset({"policies", "inbound", "backend", "outbound", "on-error", "base"})

# Every policy statement in the reference index, by element name.
POLICY_STATEMENTS = frozenset(
    {
        # Rate limiting and quotas
        "rate-limit", "rate-limit-by-key", "quota", "quota-by-key", "limit-concurrency",
        # Authentication and authorization
        "check-header", "get-authorization-context", "ip-filter", "validate-azure-ad-token",
        "validate-jwt", "validate-client-certificate", "authentication-basic",
        "authentication-certificate", "authentication-managed-identity",
        # Content validation
        "validate-content", "validate-graphql-request", "validate-odata-request",
        "validate-parameters", "validate-headers", "validate-status-code",
        # Routing
        "forward-request", "set-backend-service", "proxy",
        # Caching
        "cache-lookup", "cache-store", "cache-lookup-value", "cache-store-value",
        "cache-remove-value", "azure-openai-semantic-cache-lookup",
        "azure-openai-semantic-cache-store",
        # Transformation
        "set-method", "set-status", "set-variable", "set-body", "set-header",
        "set-query-parameter", "rewrite-uri", "json-to-xml", "xml-to-json", "find-and-replace",
        "redirect-content-urls", "xsl-transform", "return-response", "mock-response",
        # Cross-domain
        "cross-domain", "cors", "jsonp",
        # Integration and external communication
        "send-request", "send-one-way-request", "log-to-eventhub", "publish-to-dapr",
        "invoke-dapr-binding",
        # Logging
        "trace", "emit-metric",
        # GraphQL resolvers
        "sql-data-source", "cosmosdb-data-source", "http-data-source", "publish-event",
        # Policy control and flow
        "choose", "include-fragment", "retry", "wait",
    }
)  # fmt: skip

# Documented attributes of the elements apim/policies uses, and of their child elements.
ATTRIBUTES = {
    "cors": {"allow-credentials", "terminate-unmatched-request"},
    "allowed-origins": set(),
    "origin": set(),
    "allowed-methods": {"preflight-result-max-age"},
    "method": set(),
    "allowed-headers": set(),
    "expose-headers": set(),
    "header": set(),
    "rate-limit": {
        "calls", "renewal-period", "retry-after-header-name", "retry-after-variable-name",
        "remaining-calls-header-name", "remaining-calls-variable-name", "total-calls-header-name",
    },
    "set-backend-service": {
        "base-url", "backend-id", "sf-resolve-condition", "sf-service-instance-name",
        "sf-listener-name", "dapr-app-id", "dapr-method", "dapr-namespace",
    },
    "set-header": {"name", "exists-action"},
    "value": set(),
    "validate-content": {
        "unspecified-content-type-action", "max-size", "size-exceeded-action",
        "errors-variable-name",
    },
    "forward-request": {
        "timeout", "timeout-ms", "continue-timeout", "http-version", "follow-redirects",
        "buffer-request-body", "buffer-response", "fail-on-error-status-code",
    },
    "redirect-content-urls": set(),
    "choose": set(),
    "when": {"condition"},
    "otherwise": set(),
    "set-status": {"code", "reason"},
    "set-body": {"template", "xsi-nil", "parse-date"},
    "base": set(),
    "policies": set(),
    "inbound": set(),
    "backend": set(),
    "outbound": set(),
    "on-error": set(),
}  # fmt: skip

# Child elements each element may contain, for the elements apim/policies uses.
CHILDREN = {
    "policies": {"inbound", "backend", "outbound", "on-error"},
    "cors": {"allowed-origins", "allowed-methods", "allowed-headers", "expose-headers"},
    "allowed-origins": {"origin"},
    "allowed-methods": {"method"},
    "allowed-headers": {"header"},
    "expose-headers": {"header"},
    "rate-limit": {"api"},
    "set-header": {"value"},
    "validate-content": {"content-type-map", "content"},
    "choose": {"when", "otherwise"},
}

# Sections in which each element may stand, from the Usage part of each policy's page.
ALLOWED_SECTIONS = {
    "cors": {"inbound"},
    "rate-limit": {"inbound"},
    "set-backend-service": {"inbound", "backend"},
    "set-header": {"inbound", "outbound", "backend", "on-error"},
    "validate-content": {"inbound", "outbound", "on-error"},
    "forward-request": {"backend"},
    "redirect-content-urls": {"inbound", "outbound"},
    "choose": {"inbound", "outbound", "backend", "on-error"},
    "set-status": {"inbound", "outbound", "backend", "on-error"},
    "set-body": {"inbound", "outbound", "backend", "on-error"},
}

# Enumerated attribute values.
ATTRIBUTE_VALUES = {
    ("set-header", "exists-action"): {"override", "skip", "append", "delete"},
    ("validate-content", "unspecified-content-type-action"): {"ignore", "prevent", "detect"},
    ("validate-content", "size-exceeded-action"): {"ignore", "prevent", "detect"},
    ("cors", "allow-credentials"): {"true", "false"},
    ("cors", "terminate-unmatched-request"): {"true", "false"},
}
