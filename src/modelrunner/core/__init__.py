"""Types every layer shares: the internal chat request, engine chunks, errors, model references."""
