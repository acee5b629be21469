"""The pure domain of AJ Bikes: orders, stock, shipments, message contracts and ports; no I/O."""
