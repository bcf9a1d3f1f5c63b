"""Wire contracts: the Avro schemas under ``schemas/``, their single-object codec, and the topic catalog."""
