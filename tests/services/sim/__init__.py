"""Tests for the simulated control."""
