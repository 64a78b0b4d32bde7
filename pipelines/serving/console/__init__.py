"""The agent console: a page at ``/console`` for support agents, and the JSON it needs beyond
the read API (a profile's change timeline). docs/serving.md, "The agent console"."""
