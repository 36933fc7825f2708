"""Stand-in servers that follow each provider's documented HTTP API, for contract tests over loopback."""
