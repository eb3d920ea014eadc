"""Tests for koabus.metadata: the catalog, value parsing, the importer and the `koabus meta` CLI."""
