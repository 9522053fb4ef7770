"""Which runner serves a request: resolve the model, load it on demand, keep it warm, evict it."""
