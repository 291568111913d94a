"""Engines map one function over many items (videos): locally or, later, on a cluster."""

from .local import LocalEngine, map_items

__all__ = ["LocalEngine", "map_items"]
