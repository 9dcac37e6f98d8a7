"""Benchmarks: `icone bench decoders|ingest|storage` (results in docs/benchmarks.md)."""
