"""Kafka plumbing every package shares: client configuration, the producer, lag, retries."""
