"""Durable activities, one module per service: load, call the domain, save, publish."""
