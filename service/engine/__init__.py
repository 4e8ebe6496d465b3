"""Judge engines: in-process vLLM (`VllmEngine`) or a remote OpenAI-compatible vLLM server (`RemoteEngine`)."""
