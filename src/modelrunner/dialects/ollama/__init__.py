"""The Ollama API (`/api/chat`, `/api/generate`, `/api/tags`, ...): NDJSON streaming, Ollama's shapes."""
