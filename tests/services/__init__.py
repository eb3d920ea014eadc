"""Tests for koabus.services."""
