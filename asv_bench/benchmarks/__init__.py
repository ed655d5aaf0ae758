"""The statespace asv benchmark suite: one module per topic, shared helpers in ``common``."""
