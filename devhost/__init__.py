"""devhost: an offline host that runs any Python v2-model Azure Functions app on one machine."""
