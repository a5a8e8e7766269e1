"""reclift: e-commerce recommendations and incrementality-driven ad targeting."""

from reclift.errors import ReclifError

__all__ = ["ReclifError", "__version__"]
__version__ = "0.1.0"
