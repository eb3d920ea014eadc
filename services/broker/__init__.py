"""The koabus broker: Kiwoom OpenAPI+ served on ZeroMQ (ROUTER requests, PUB publications)."""
