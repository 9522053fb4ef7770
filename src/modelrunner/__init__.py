"""modelrunner: store open-weight models, load them on demand, serve them over familiar APIs."""

__version__ = "0.1.0"
