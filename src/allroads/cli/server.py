"""Running the HTTP server (shared by `serve` and `demo`)."""

from __future__ import annotations

from allroads.cli.errors import fail
from allroads.cli.render import console
from allroads.resolution.hub import Hub
from allroads.settings import Settings

API_PREFIX = "/api/v1"


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

    app = create_app(config, hub=hub) if hub is not None else create_app(config)
    url = base_url(config)
    console.print(f"[bold green]Allroads[/] serving [bold]{url}[/]  "
                  f"(API docs: {url}/docs, API: {url}{API_PREFIX})")
    console.print("[dim]Press Ctrl+C to stop.[/]")
    # uvicorn's httptools protocol with each response written at once (api/serving.py).
    uvicorn.run(app, host=config.host, port=config.port, log_level="info", **uvicorn_options())
