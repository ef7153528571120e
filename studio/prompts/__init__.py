"""The A1111 prompt language, as text: no torch here, so the UI, the HTTP layer and the engine
all use the same parser. Encoding parsed prompts into embeddings is the pipeline's job."""
