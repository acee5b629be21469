"""The carrier simulator, workload driver and catalog import used by `make run` and the benchmarks."""
