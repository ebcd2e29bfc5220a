"""The data contract: Avro schemas, the codec, identifier parsing, topic names."""
