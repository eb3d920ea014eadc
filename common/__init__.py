"""koabus shared code: protocol, errors, clock and settings (broker-safe), plus the client SDK and CLI.

Importing this package is cheap and pulls in nothing beyond the standard library; the client SDK
(pandas) lives in `koabus.common.client` and is only imported by consumers.
"""
