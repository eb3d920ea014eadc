"""Tests of the broker service (koabus.services.broker)."""
