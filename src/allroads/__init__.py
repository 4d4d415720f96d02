"""Allroads: a self-hosted customer identity hub. All roads lead to one customer ID."""

__version__ = "0.1.0"
