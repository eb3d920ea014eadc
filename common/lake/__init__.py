"""The market-data lake: where tables live on disk (`layout`) and what their rows look like (`schema`).

`layout` is standard library only; `schema` needs pyarrow (the `client` extra). The broker never
imports this package.
"""
