"""The on-disk model store (byte-compatible with Docker Model Runner's) and model packaging."""
