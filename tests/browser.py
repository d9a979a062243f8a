"""Real-browser helpers: JupyterLab on loopback, driven by Debian's headless chromium.

Reusable by any test (`from browser import ...`; pytest puts `tests/` on the path):

    with lab_session(chromium_path, tmp_path) as (lab, page):
        for path in ("notebooks/00_welcome.ipynb", "notebooks/02_streaming_chat.ipynb"):
            open_and_run_notebook(page, lab, path)
            ...  # interact with the page: the kernel is idle and every cell has run

(`lab_session` = `copy_notebooks` + `jupyter_lab` + `chromium_page`; use those
directly for other folders or settings.) Tests that need nothing special use the
suite's shared server instead (fixtures `course_lab` and `lab_page` in conftest.py: one
JupyterLab for every browser test of the run, a fresh page per test, and every kernel
shut down after each test).

`jupyter_lab` starts `jupyter lab` from the project's virtualenv with a random
token, a free port on 127.0.0.1 and private config/runtime/data/workspace dirs,
so it neither reads nor writes anybody's settings; it stops the server (and the
kernels it started) on exit. Run notebooks in a *copy* (`copy_notebooks`): the
browser saves what it runs. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stream_or_queue.serving import free_port

ROOT = Path(__file__).resolve().parent.parent
JUPYTER = Path(sys.executable).with_name("jupyter")

__all__ = [
    "LabServer",
    "NotebookRunError",
    "chromium_page",
    "copy_notebooks",
    "jupyter_lab",
    "lab_session",
    "open_and_run_notebook",
    "run_all_cells",
    "run_in_kernel",
    "shut_down_kernels",
    "strip_outputs",
    "wait_for_widget_manager",
    "wait_until_idle",
]


class NotebookRunError(AssertionError):
    """A notebook did not run cleanly in the browser; the message says which cell and why."""


@dataclass(frozen=True)
class LabServer:
    """A running JupyterLab: its base URL, token and the folder it serves."""

    url: str
    token: str
    root: Path
    log: Path

    def tree_url(self, relative: str) -> str:
        # a fresh, named workspace each time, so tabs from an earlier page do not reopen
        workspace = secrets.token_hex(4)
        return f"{self.url}/lab/workspaces/{workspace}/tree/{relative}?token={self.token}"

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def copy_notebooks(destination: Path, *folders: str) -> Path:
    """Copy course folders (default: notebooks/) into `destination`."""
    for folder in folders or ("notebooks",):
        shutil.copytree(
            ROOT / folder, destination / folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints")
        )
    return destination


@contextlib.contextmanager
def jupyter_lab(
    root: Path,
    *,
    env: Mapping[str, str] | None = None,
    start_timeout_s: float = 90.0,
) -> Iterator[LabServer]:
    """Serve `root` with JupyterLab on 127.0.0.1 with private settings; stop it on exit."""
    private = root / ".jupyter-private"
    dirs = {name: private / name for name in ("config", "runtime", "data", "settings", "work")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    _write_settings(dirs["settings"])
    token = secrets.token_hex(24)
    port = free_port()
    environment = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "JUPYTER_DATA_DIR": str(dirs["data"]),
        "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
        "JUPYTERLAB_WORKSPACES_DIR": str(dirs["work"]),
        "JUPYTER_PLATFORM_DIRS": "1",
        **(env or {}),
    }
    log = private / "server.log"
    command = [
        str(JUPYTER),
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None",
        # window.jupyterapp, so that a test can wait for the widget manager (below)
        "--LabApp.expose_app_in_browser=True",
        *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            cwd=root,
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LabServer(url=f"http://127.0.0.1:{port}", token=token, root=root, log=log)
    try:
        _wait_for_server(server, process, start_timeout_s)
        yield server
    finally:
        _stop(process)


LAB_SETTINGS: dict[str, dict[str, object]] = {
    # Render every cell (JupyterLab 4 only renders the cells in view by default), so
    # that tests can read every prompt and output.
    "@jupyterlab/notebook-extension/tracker": {
        "windowingMode": "none",
        # never stop on a "Select Kernel" dialog
        "autoStartDefaultKernel": True,
    },
    # No "would you like news?" toast over the page.
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}


def _write_settings(settings_dir: Path) -> None:
    for plugin, values in LAB_SETTINGS.items():
        package, name = plugin.rsplit("/", 1)
        path = settings_dir / package / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def _wait_for_server(server: LabServer, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    status = f"{server.url}/api/status?token={server.token}"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"jupyter lab exited with {process.returncode}:\n{server.log_tail()}"
            )
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
            urllib.request.urlopen(status, timeout=2) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.25)
    raise RuntimeError(f"jupyter lab did not answer within {timeout_s:g} s:\n{server.log_tail()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (server and kernels), then SIGKILL if needed."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextlib.contextmanager
def chromium_page(
    chromium_path: str,
    args: list[str] | None = None,
    *,
    viewport: tuple[int, int] = (1400, 1000),
) -> Iterator[Any]:
    """A playwright page in Debian's headless chromium (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    if args is None:
        from services_support import CHROMIUM_ARGS

        args = list(CHROMIUM_ARGS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=args
        )
        try:
            context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            page = context.new_page()
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()


_PROMPT = re.compile(r"\[(\d+|\*| )\]:")


def scroll_into_view(locator: Any, attempts: int = 5) -> None:
    """Scroll a widget into view, again if JupyterLab re-rendered it meanwhile.

    JupyterLab renders a notebook in windows and widgets re-render when the kernel
    updates them, so the element a locator resolved can be detached before playwright
    scrolls it ("Element is not attached to the DOM"); the locator then finds the new
    one. Bounded: any other error, or the last attempt's, is raised.
    """
    from playwright.sync_api import Error as PlaywrightError

    for attempt in range(attempts):
        try:
            locator.scroll_into_view_if_needed(timeout=15_000)
            return
        except PlaywrightError as error:
            if "not attached" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.2)


def wait_until_idle(page: Any, timeout_s: float = 60.0) -> None:
    """Wait until the open notebook's kernel reports idle."""
    page.wait_for_selector(
        ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=timeout_s * 1000
    )


_WIDGET_MANAGER_READY = """
path => {
    const app = window.jupyterapp;
    if (!app) return false;
    for (const widget of app.shell.widgets("main")) {
        if (widget.context && widget.context.path === path) {
            const session = widget.sessionContext.session;
            const kernel = session && session.kernel;
            // KernelConnection keeps its comm targets here; ipywidgets' manager adds
            // "jupyter.widget" when it is created for this notebook's kernel.
            const targets = kernel && kernel._targetRegistry;
            return Boolean(targets && targets["jupyter.widget"]);
        }
    }
    return false;
}
"""


def wait_for_widget_manager(page: Any, relative: str, timeout_s: float = 60.0) -> None:
    """Wait until ipywidgets' manager listens to the kernel of the open notebook `relative`.

    JupyterLab creates that manager asynchronously, some time after the kernel is ready
    (and its execution indicator idle). A cell that runs before it sends the widgets'
    `comm_open` messages to a page that drops them (and closes the comms); the output
    that follows then shows "Error displaying widget: model not found" (or plain text).
    A learner never meets the race (nobody runs a cell within a second of opening the
    notebook); a test that clicks Run All at once does, under load.
    """
    page.wait_for_function(_WIDGET_MANAGER_READY, arg=relative, timeout=timeout_s * 1000)


def _prompts(page: Any) -> list[str]:
    return list(page.locator(".jp-Notebook .jp-CodeCell .jp-InputArea-prompt").all_inner_texts())


def _menu(page: Any, menu: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(menu)}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).click()


def run_all_cells(page: Any, cells: int, timeout_s: float = 180.0) -> None:
    """Run > Run All Cells, then wait until all `cells` code cells show an execution count.

    A click that lands before the kernel connection is ready does nothing, so the
    command is repeated (at most three times) until the first cell starts.
    """
    for _attempt in range(3):
        _menu(page, "Run", "Run All Cells")
        started = time.monotonic() + 15
        while time.monotonic() < started:
            prompts = _prompts(page)
            if prompts and prompts[0].strip() != "[ ]:":
                break
            time.sleep(0.1)
        else:
            continue
        break
    else:
        raise NotebookRunError("Run All Cells did not start the first cell (tried 3 times)")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _raise_on_error(page)
        prompts = _prompts(page)
        done = len(prompts) == cells and all(re.fullmatch(r"\[\d+\]:", p.strip()) for p in prompts)
        if done and page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count():
            return
        time.sleep(0.25)
    raise NotebookRunError(
        f"the notebook did not finish within {timeout_s:g} s; prompts: {_prompts(page)}"
    )


def strip_outputs(path: Path) -> int:
    """Remove outputs and execution counts (so a fresh count proves a cell ran); returns
    the number of code cells."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    cells = 0
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cells += 1
    nbformat.write(notebook, path)
    return cells


def _raise_on_error(page: Any) -> None:
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    if errors.count():
        raise NotebookRunError("a cell wrote to stderr or raised:\n" + errors.first.inner_text())


def open_and_run_notebook(
    page: Any, server: LabServer, relative: str, *, timeout_s: float = 180.0
) -> None:
    """Open `relative` (a path under the server's root) in JupyterLab and run every cell.

    The notebook file's outputs are stripped first (run it in a copy). Returns when
    the kernel is idle and every code cell has a fresh execution count; raises
    `NotebookRunError` on any error or stderr output, showing it.
    """
    cells = strip_outputs(server.root / relative)
    page.goto(server.tree_url(relative))
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=60_000)
    wait_until_idle(page, timeout_s=90)
    wait_for_widget_manager(page, relative)
    deadline = time.monotonic() + 60
    while len(_prompts(page)) < cells:
        if time.monotonic() > deadline:
            raise NotebookRunError(f"only {len(_prompts(page))} of {cells} code cells rendered")
        time.sleep(0.1)
    run_all_cells(page, cells, timeout_s=timeout_s)
    _raise_on_error(page)


@contextlib.contextmanager
def lab_session(
    chromium_path: str,
    workdir: Path,
    *,
    folders: tuple[str, ...] = ("notebooks",),
    env: Mapping[str, str] | None = None,
) -> Iterator[tuple[LabServer, Any]]:
    """A copy of `folders` in `workdir`, served by JupyterLab, and a browser page for it."""
    root = copy_notebooks(workdir, *folders)
    with jupyter_lab(root, env=env) as lab, chromium_page(chromium_path) as page:
        yield lab, page


def _api(lab: LabServer, path: str, method: str = "GET", timeout_s: float = 10.0) -> Any:
    request = urllib.request.Request(
        f"{lab.url}/api/{path}", method=method, headers={"Authorization": f"token {lab.token}"}
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        body = response.read()
    return json.loads(body) if body else None


def shut_down_kernels(lab: LabServer) -> None:
    """Shut every kernel of `lab` down (one notebook's kernel and its threads at a time)."""
    for kernel in _api(lab, "kernels"):
        _api(lab, f"kernels/{kernel['id']}", method="DELETE", timeout_s=30)


def run_in_kernel(lab: LabServer, notebook: str, source: str, timeout_s: float = 60.0) -> None:
    """Run `source` in the kernel of the open notebook (`notebook`: its path under the
    server's root), as a second client.

    Widget updates it causes travel on the kernel's broadcast channel, so the page
    shows them exactly as if a cell had run them; typing a new cell instead would
    depend on where the keyboard focus happens to be.
    """
    from jupyter_client import BlockingKernelClient

    sessions = _api(lab, "sessions")
    kernel_id = next(s["kernel"]["id"] for s in sessions if s["path"] == notebook)
    connection = lab.root / ".jupyter-private" / "runtime" / f"kernel-{kernel_id}.json"
    client = BlockingKernelClient(connection_file=str(connection))
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=30)
        reply = client.execute_interactive(source, timeout=timeout_s, output_hook=lambda _m: None)
    finally:
        client.stop_channels()
    content = reply["content"]
    assert content["status"] == "ok", f"{content.get('ename')}: {content.get('evalue')}"
