"""Tests for koabus.services.alerting."""
