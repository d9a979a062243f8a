"""Links to the course's page: loopback locally, jupyter-server-proxy under JupyterHub/Binder."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
import redis

from stream_or_queue.simulator import Simulator
from stream_or_queue.web import create_app, serve_in_thread
from stream_or_queue.web.links import (
    Link,
    browser_link,
    browser_url,
    forwarded_prefix,
    hub_prefix,
)
from stream_or_queue.web.server import RunningWeb

HUB = {"JUPYTERHUB_SERVICE_PREFIX": "/user/ana-2d/"}


def test_locally_the_link_is_the_loopback_address() -> None:
    assert hub_prefix({}) is None and hub_prefix({"JUPYTERHUB_SERVICE_PREFIX": " "}) is None
    assert browser_url("http://127.0.0.1:8123", environ={}) == "http://127.0.0.1:8123/"
    assert (
        browser_url("http://127.0.0.1:8123/", "/r/abc", environ={}) == "http://127.0.0.1:8123/r/abc"
    )


def test_under_a_hub_the_link_goes_through_the_proxy() -> None:
    assert hub_prefix(HUB) == "/user/ana-2d/"
    assert hub_prefix({"JUPYTERHUB_SERVICE_PREFIX": "/user/bo"}) == "/user/bo/"
    assert browser_url("http://127.0.0.1:8123", environ=HUB) == "/user/ana-2d/proxy/8123/"
    url = browser_url("http://127.0.0.1:8123", "/r/abc", environ=HUB)
    assert url == "/user/ana-2d/proxy/8123/r/abc"


@pytest.mark.parametrize(
    "bad", ["user/ana/", "//evil.example/", "/user/a b/", '/user/"x/', "javascript:alert(1)"]
)
def test_a_strange_hub_prefix_is_refused_by_name(bad: str) -> None:
    with pytest.raises(ValueError, match="JUPYTERHUB_SERVICE_PREFIX"):
        hub_prefix({"JUPYTERHUB_SERVICE_PREFIX": bad})


@pytest.mark.parametrize(
    ("url", "path"),
    [("127.0.0.1:80", "/"), ("http://127.0.0.1", "/"), ("http://127.0.0.1:1", "r/x")],
)
def test_a_bad_server_url_or_path_says_what_was_expected(url: str, path: str) -> None:
    with pytest.raises(ValueError, match=r"expected a server URL|must start with"):
        browser_url(url, path, environ={})


def test_a_link_is_clickable_and_copyable() -> None:
    local = browser_link("http://127.0.0.1:8123", "/r/a<b", "the <page>", environ={})
    assert local == Link("the <page>", "http://127.0.0.1:8123/r/a<b", proxied=False)
    assert repr(local) == "the <page>: http://127.0.0.1:8123/r/a<b" and str(local) == local.url
    page = local._repr_html_()
    assert 'href="http://127.0.0.1:8123/r/a&lt;b"' in page and "the &lt;page&gt;" in page
    assert 'target="_blank"' in page
    hub = browser_link("http://127.0.0.1:8123", environ=HUB)
    assert hub.proxied and "JupyterLab's proxy" in repr(hub) and "proxy" in hub._repr_html_()


@pytest.mark.parametrize(
    ("header", "prefix"),
    [
        ("/user/ana/proxy/8123", "/user/ana/proxy/8123"),
        ("/user/ana/proxy/8123/", "/user/ana/proxy/8123"),
        ("", ""),
        ("//evil.example", ""),
        ('/x"><script>', ""),
        ("https://evil.example/x", ""),
    ],
)
def test_the_forwarded_prefix_is_a_plain_path_or_nothing(header: str, prefix: str) -> None:
    assert forwarded_prefix({"x-forwarded-prefix": header}) == prefix


@pytest.fixture
def web(simulator: Simulator, fake_redis: redis.Redis) -> Iterator[RunningWeb]:
    running = serve_in_thread(create_app())
    yield running
    running.stop()


def test_behind_a_prefix_every_link_of_the_page_keeps_it(web: RunningWeb) -> None:
    prefix = "/user/ana/proxy/8123"
    with httpx2.Client(base_url=web.url, timeout=30) as client:
        plain = client.get("/").text
        proxied = client.get("/", headers={"X-Forwarded-Prefix": prefix}).text
        posted = client.post(
            "/ask",
            content="question=Why+queue+long+work%3F",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        job = client.get(posted.headers["location"], headers={"X-Forwarded-Prefix": prefix}).text
        client.delete(f"/jobs/{posted.headers['location'].rpartition('/')[2]}")
    assert 'href="/static/style.css"' in plain and 'action="/ask"' in plain
    assert f'href="{prefix}/static/style.css"' in proxied and f'action="{prefix}/ask"' in proxied
    assert f'src="{prefix}/static/app.js"' in proxied and f'data-root="{prefix}"' in proxied
    links = re.findall(r'(?:href|src|action)="([^"]*)"', job)
    assert links and all(link.startswith(prefix + "/") for link in links), links


@pytest.mark.slow
def test_the_hub_link_reaches_the_page_through_a_real_jupyter_server_proxy(
    web: RunningWeb, tmp_path: Path
) -> None:
    from browser import jupyter_lab

    port = web.url.rpartition(":")[2]
    with jupyter_lab(tmp_path) as lab:
        # a single-user server started by JupyterHub serves under its prefix; this one at "/"
        path = browser_url(web.url, environ={"JUPYTERHUB_SERVICE_PREFIX": "/"})
        assert path == f"/proxy/{port}/"

        def get(url: str) -> tuple[int, str, str]:
            request = urllib.request.Request(
                lab.url + url, headers={"Authorization": f"token {lab.token}"}
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.url, response.read().decode()

        status, _, index = get(path)
        assert status == 200 and f'action="/proxy/{port}/ask"' in index
        css = re.search(r'href="([^"]+\.css)"', index)
        assert css is not None and get(css.group(1))[0] == 200  # the stylesheet, proxied too
        request = urllib.request.Request(
            f"{lab.url}/proxy/{port}/ask",
            data=b"question=Why+queue+long+work%3F",
            headers={"Authorization": f"token {lab.token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            landed, page = response.url, response.read().decode()
        # the redirect to the permalink stayed behind the proxy, and so do the page's links
        assert re.fullmatch(rf"{re.escape(lab.url)}/proxy/{port}/r/[A-Za-z0-9_-]+", landed)
        assert f'data-root="/proxy/{port}"' in page
        job_id = landed.rpartition("/")[2]
    with httpx2.Client(base_url=web.url, timeout=30) as client:
        client.delete(f"/jobs/{job_id}")
