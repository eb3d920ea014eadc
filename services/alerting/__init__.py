"""The alerting service: rules on the live bus that notify people (docs/alerting.md)."""
