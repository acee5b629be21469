"""The simulated outside world: carrier, supplier, customers' workload and the catalog import."""
