"""The local stand-in for AWS: the same state machines, handlers and workers on one machine."""
