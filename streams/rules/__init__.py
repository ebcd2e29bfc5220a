"""The domain rules of the worker as plain functions: resolution, registry, enrichment,
privacy, timeliness, publication, changes, notices, items, ownership, triage, versioning,
regions. Nothing here imports Kafka; the stage adapters (`streams/*_stage.py`) call them."""
