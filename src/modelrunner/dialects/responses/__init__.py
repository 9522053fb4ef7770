"""OpenAI's Responses API: request items -> a Messages-shaped conversation, engine chunks -> a Response
and its streamed events. Pure translation, no I/O."""
