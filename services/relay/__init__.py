"""The relay service: re-publishes a broker's bus on another host or port (docs/relay.md)."""
