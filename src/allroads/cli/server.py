"""Running the HTTP server (shared by `serve` and `demo`)."""

from __future__ import annotations

from allroads.cli.errors import fail
from allroads.cli.render import console
from allroads.resolution.hub import Hub
from allroads.settings import Settings

API_PREFIX = "/api/v1"
APP_FACTORY = "allroads.api.app:create_app"  # what each of several server processes runs


def base_url(config: Settings) -> str:
    """The URL to show for the server: a wildcard address is shown as localhost."""
    host = "127.0.0.1" if config.host in ("0.0.0.0", "", "::") else config.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{config.port}"


def run(config: Settings, *, hub: Hub | None = None) -> None:
    """Build the API app for `config` (or over `hub`) and serve it until interrupted."""
    try:
        from allroads.api.app import create_app
    except ImportError as exc:
        fail(f"the REST API cannot be loaded: {exc}",
             hint="reinstall Allroads (pip install allroads); `allroads demo --no-serve` "
             "seeds without serving")
    import uvicorn

    from allroads.api.serving import uvicorn_options

    workers = config.workers if hub is None else 1
    url = base_url(config)
    console.print(f"[bold green]Allroads[/] serving [bold]{url}[/]  "
                  f"(API docs: {url}/docs, API: {url}{API_PREFIX})"
                  + (f" in {workers} processes" if workers > 1 else ""))
    if workers > 1 and config.database_url.startswith("sqlite"):
        console.print("[yellow]SQLite writes one transaction at a time: more server "
                      "processes add little (each has its own identify writer).[/]")
    console.print("[dim]Press Ctrl+C to stop.[/]")
    # uvicorn's httptools protocol with each response written at once (api/serving.py).
    options = dict(host=config.host, port=config.port, log_level="info", **uvicorn_options())
    if workers > 1:
        # Each process builds the app itself, from the same ALLROADS_* environment.
        uvicorn.run(APP_FACTORY, factory=True, workers=workers, **options)
        return
    app = create_app(config, hub=hub) if hub is not None else create_app(config)
    uvicorn.run(app, **options)
