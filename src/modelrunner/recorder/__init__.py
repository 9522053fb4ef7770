"""The request recorder: the last exchanges per model (what the client sent, what the model saw, what came
back, how long it took), kept in memory within a byte cap, for `/engines/requests` and the inspector."""
