"""selfinstruct: grow a few seed tasks into an instruction-tuning dataset, then fine-tune on it."""

__version__ = "0.1.0"
