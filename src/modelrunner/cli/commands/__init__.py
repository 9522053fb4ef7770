"""The verbs of the `modelrunner` command, one module per group."""
