"""The skeleton every bus service shares (relay, recorder, alerting, bars, strategy, web, and yours).

One module per role: `settings` (the common fields and their checks), `cli` (the bus options and the
load-settings / configure-logging / one-line-error pattern), `status` (the service's own PUB: heartbeats
and publications in its own epoch). The broker never imports this package.
"""
