"""The `allroads` command line: an edge, like the API. It parses arguments, calls the Hub,
renders with Rich, and turns Allroads errors into one-line messages (see `errors`).

The Typer app is `allroads.cli.main.app` (the `allroads` console script).
"""
