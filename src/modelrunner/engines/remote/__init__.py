"""The remote engine: a model served by OpenAI-compatible upstreams (vLLM, SGLang, llama.cpp servers,
another modelrunner), one or several replicas behind one name."""
