"""The demo: Demo Co's customers as its product, CRM and support desk hold them, and the seeding
that sends them through the Hub (`allroads demo`)."""

from allroads.demo.seed import DemoSummary, seed_demo

__all__ = ["DemoSummary", "seed_demo"]
