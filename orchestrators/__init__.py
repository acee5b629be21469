"""Durable orchestrators: the order-to-shipment saga."""
