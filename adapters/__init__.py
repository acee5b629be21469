"""Port implementations (Cosmos DB, SQLite, Service Bus, embedded broker) and the composition root."""
