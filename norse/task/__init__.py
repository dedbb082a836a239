"""Ready training tasks, run as ``python -m norse.task.<name>``."""
