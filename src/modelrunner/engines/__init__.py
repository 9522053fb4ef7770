"""Engines run models. One interface (`Engine` starts a `Runner` for a model); several engines."""
