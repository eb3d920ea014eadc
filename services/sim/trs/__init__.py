"""TR emulation: the generic request path (`requests`) and per-family responders that read the market;
a TR no responder models (one imported from an install) gets placeholder rows from `generic`."""
