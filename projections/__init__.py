"""Read models: one module per view, each following the event log exactly once."""
