"""Benchmark the set-up a learner goes through: a fresh clone, then `make lab` / `make test`.

For a git revision (default HEAD) it clones the repository into a temporary folder and
measures, with the package caches as they are on this machine (run it twice: the
second run is the "warm cache" figure):

- install: `make .venv/.installed`, the step `make lab` and `make test` both start with
  (venv + every locked package + the course);
- lab ready: `make lab` from that point until JupyterLab answers `GET /api/status` on
  127.0.0.1 (no browser is opened);
- total: install + lab ready, what "`make lab` until JupyterLab answers" costs on a
  fresh clone.

Loopback only; every wait is bounded; the clone is deleted at the end.

    .venv/bin/python scripts/bench_setup.py                # HEAD
    .venv/bin/python scripts/bench_setup.py --rev 0a53dfe  # an earlier revision
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from stream_or_queue.serving import free_port

ROOT = Path(__file__).resolve().parent.parent
LAB_READY_TIMEOUT_S = 180.0
INSTALL_TIMEOUT_S = 1200.0


def _clone(rev: str, into: Path) -> Path:
    target = into / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(target)], check=True)
    subprocess.run(["git", "-C", str(target), "checkout", "-q", rev], check=True)
    return target


def _clean_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("VIRTUAL_ENV", "PYTHONPATH"):
        env.pop(name, None)
    return env


def measure_install(clone: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        ["make", ".venv/.installed"],
        cwd=clone,
        env=_clean_env(),
        check=True,
        timeout=INSTALL_TIMEOUT_S,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def measure_lab_ready(clone: Path) -> float:
    """`make lab` (on an installed clone) until JupyterLab's API answers."""
    port = free_port()
    token = "bench-setup"
    # A private config: this port, no browser, and root allowed (this may run in a
    # container as root; `make lab` itself decides that for a learner).
    config_dir = clone / ".bench-jupyter-config"
    config_dir.mkdir(exist_ok=True)
    settings = {"ServerApp": {"port": port, "open_browser": False, "allow_root": True}}
    (config_dir / "jupyter_server_config.json").write_text(json.dumps(settings))
    env = {**_clean_env(), "JUPYTER_CONFIG_DIR": str(config_dir), "JUPYTER_TOKEN": token}
    started = time.perf_counter()
    process = subprocess.Popen(
        ["make", "lab"],
        cwd=clone,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api/status?token={token}"
    try:
        deadline = started + LAB_READY_TIMEOUT_S
        while time.perf_counter() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"make lab exited with {process.returncode}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise TimeoutError(f"JupyterLab did not answer within {LAB_READY_TIMEOUT_S} s")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", default="HEAD", help="git revision to clone (default HEAD)")
    parser.add_argument("--skip-lab", action="store_true", help="measure the install only")
    args = parser.parse_args(argv)
    rev = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", args.rev],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="soq-setup-") as tmp:
        clone = _clone(rev, Path(tmp))
        install_s = measure_install(clone)
        lab_s = None if args.skip_lab else measure_lab_ready(clone)
        shutil.rmtree(clone / ".venv", ignore_errors=True)
    load = os.getloadavg()[0]
    print(f"revision {rev}, {os.cpu_count()} cores, load average {load:.1f} at the end")
    print("| step | seconds |")
    print("|---|---:|")
    print(f"| install (`make .venv/.installed`) | {install_s:.1f} |")
    if lab_s is not None:
        print(f"| `make lab` until JupyterLab answers | {lab_s:.1f} |")
        print(f"| fresh clone to JupyterLab answering | {install_s + lab_s:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
