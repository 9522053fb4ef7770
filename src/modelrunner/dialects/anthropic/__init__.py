"""The Anthropic Messages API: request schema, normalisation, translation and the SSE encoder."""
