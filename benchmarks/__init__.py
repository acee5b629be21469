"""`make bench`: saga throughput, latency, memory and start-up of devhost, measured in one run."""
