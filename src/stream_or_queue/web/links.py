"""Links a learner can click to the course's web page, on their machine or behind JupyterHub.

A server started by a notebook listens on 127.0.0.1 inside the kernel's machine. On
your own machine that address is the link. Under JupyterHub - Binder is one - the
browser cannot reach it; `jupyter-server-proxy` (a course dependency) forwards
`{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/...` to `127.0.0.1:{port}/...`, behind the
hub's own login. `browser_url()` picks the right one from the environment.

Behind the proxy the page lives under a prefix, so its own links must too: the
proxy sends the prefix in `X-Forwarded-Prefix`, and `forwarded_prefix()` gives the
templates (and the page's script) a checked copy of it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from .. import config

__all__ = ["Link", "browser_link", "browser_url", "forwarded_prefix", "hub_prefix"]

HUB_PREFIX_VARIABLE = "JUPYTERHUB_SERVICE_PREFIX"
"""Set by JupyterHub (and so Binder) for the single-user server: `/user/<name>/`."""
_SAFE_PATH = re.compile(r"(?:/[A-Za-z0-9._~%@+-]+)*/?")
"""Plain path segments only: no `//host`, no quotes, no spaces (hubs escape names)."""


def hub_prefix(environ: Mapping[str, str] | None = None) -> str | None:
    """The JupyterHub user prefix (`/user/ana/`), or None when not running under a hub."""
    raw = config.env(HUB_PREFIX_VARIABLE) if environ is None else environ.get(HUB_PREFIX_VARIABLE)
    value = (raw or "").strip()
    if not value:
        return None
    if not value.startswith("/") or value.startswith("//") or not _SAFE_PATH.fullmatch(value):
        raise ValueError(f"{HUB_PREFIX_VARIABLE} is not a URL path: {value!r}")
    return value if value.endswith("/") else value + "/"


def browser_url(url: str, path: str = "/", *, environ: Mapping[str, str] | None = None) -> str:
    """Where a person's browser reaches `path` on the loopback server at `url`.

    Locally: `url` + `path`. Under JupyterHub: `{prefix}proxy/{port}{path}`, a path
    on the hub's own address (the page that shows the link is served from there).
    """
    if not path.startswith("/"):
        raise ValueError(f"path must start with '/', got {path!r}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.port is None:
        raise ValueError(
            f"expected a server URL with a port, like http://127.0.0.1:8000, got {url!r}"
        )
    prefix = hub_prefix(environ)
    if prefix is None:
        return f"{parts.scheme}://{parts.netloc}{path}"
    return f"{prefix}proxy/{parts.port}{path}"


@dataclass(frozen=True)
class Link:
    """A link for a notebook: clickable (HTML, opens a new tab) with a text form to copy."""

    text: str
    url: str
    proxied: bool

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        how = " (through JupyterLab's proxy: add it to this page's address)" if self.proxied else ""
        return f"{self.text}: {self.url}{how}"

    def _repr_html_(self) -> str:
        url = html.escape(self.url, quote=True)
        how = " <small>(through JupyterLab's proxy)</small>" if self.proxied else ""
        return (
            f'{html.escape(self.text)}: <a href="{url}" target="_blank" rel="noopener">'
            f"{html.escape(self.url)}</a>{how}"
        )


def browser_link(
    url: str, path: str = "/", text: str = "open it", *, environ: Mapping[str, str] | None = None
) -> Link:
    """`browser_url()` as a `Link` a notebook can show (the last line of a cell)."""
    return Link(text, browser_url(url, path, environ=environ), hub_prefix(environ) is not None)


def forwarded_prefix(headers: Mapping[str, str]) -> str:
    """The path prefix a proxy serves this app under (`X-Forwarded-Prefix`), or "".

    Only a plain path is accepted (anything else is ignored, never echoed): the value
    ends up in the page's links.
    """
    value = headers.get("x-forwarded-prefix", "").strip().rstrip("/")
    if value.startswith("/") and not value.startswith("//") and _SAFE_PATH.fullmatch(value):
        return value
    return ""
