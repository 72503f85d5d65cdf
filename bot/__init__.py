"""selfheal: a self-healing CI bot for Python repositories."""

__version__ = "0.1.0"
