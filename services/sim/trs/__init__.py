"""TR emulation: the generic request path (`requests`) and per-family responders that read the market."""
