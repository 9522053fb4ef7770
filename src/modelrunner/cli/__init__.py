"""The `modelrunner` command: a client of the runner's REST API (plus `serve`, which starts it)."""
