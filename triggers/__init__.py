"""HTTP starters and queries, and Service Bus triggers that raise external events into the saga."""
