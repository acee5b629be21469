"""Port implementations: Cosmos DB and SQLite stores, Service Bus publishers, composition."""
