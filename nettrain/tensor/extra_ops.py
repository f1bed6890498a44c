"""Placeholder: filled in by its op-family author."""

__all__ = []
