"""The Durable Functions engine of devhost: a SQLite task hub driving the unmodified Python SDK."""
