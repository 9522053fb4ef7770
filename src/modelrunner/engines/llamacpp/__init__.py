"""The default engine: llama.cpp's server, through xllamacpp, in one worker process per model."""
