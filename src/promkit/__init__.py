"""promkit: tools for operators of Prometheus-compatible metrics stacks."""

# The single source of the version (pyproject.toml reads it from here). A literal, because
# importlib.metadata.version() scans the installed distributions: ~70 ms on every CLI start.
__version__ = "0.1.0"

__all__ = ["__version__"]
