"""`creditsync bench`: throughput, latency, replay, query and memory figures (issue #8)."""
