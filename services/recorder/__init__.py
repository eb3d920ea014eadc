"""The recorder service: journals the bus, rolls it into the lake (Parquet, PostgreSQL), records every gap."""
