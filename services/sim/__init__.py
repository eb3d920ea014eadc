"""The simulated OpenAPI+ control (an OCX emulation) over a simulated KRX market."""
