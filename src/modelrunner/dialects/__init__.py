"""API dialects: pure translation between a wire format and the internal request and chunks."""
