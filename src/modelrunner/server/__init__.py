"""The HTTP edge: the ASGI app, routes, middleware, and the mapping of errors to envelopes."""
