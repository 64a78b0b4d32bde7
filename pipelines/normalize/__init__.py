"""Pure normalization rules shared by batch ingestion and the stream."""
