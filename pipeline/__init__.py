"""The service layer: use cases the triggers call, written against ports (adapters plug in)."""
