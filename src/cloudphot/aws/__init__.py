"""AWS adapters that are not storage: Step Functions starter, stream dispatch."""
