"""Contract tests: one suite for the simulated and the real control."""
