"""The web dashboard: the bus bridged to one page in the browser (`koabus web`, docs/consumers.md)."""
