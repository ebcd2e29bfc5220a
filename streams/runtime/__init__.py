"""The worker's Kafka runtime: the stage loop and its changelog-backed tables, the sink
loops, outputs, shared decodes, the supervisor of the loops' threads and their metrics. No
domain rule lives here; the stage adapters (`streams/*_stage.py`) join the two."""
