"""How long nbval takes: each notebook and solution alone, then the whole course at once.

    .venv/bin/python scripts/bench_notebooks.py            # print a Markdown table
    .venv/bin/python scripts/bench_notebooks.py --write    # ...and record it in
                                                           # docs/performance.md and
                                                           # the README's headline
    .venv/bin/python scripts/bench_notebooks.py 00 05      # only these lessons
    .venv/bin/python scripts/bench_notebooks.py --repeat 3 # the median of 3 runs each

Each figure is the wall-clock time of one `python -m pytest --nbval ...` process,
start to finish (interpreter, kernel start-up, every cell, output comparison). The
whole course runs the way `make test` runs it: `-n 2 --dist loadfile`, two kernels
side by side, each notebook on one of them. Targets: each notebook <= 20 s; the whole course
(notebooks + solutions) <= 180 s on 2 cores. Every run is bounded by `--timeout`.
The load average is recorded with the figures: on a shared machine it matters.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PERFORMANCE = ROOT / "docs" / "performance.md"
README = ROOT / "README.md"
README_START, README_END = "<!-- notebooks-perf:start -->", "<!-- notebooks-perf:end -->"
SECTION = "## Notebooks (issue 4)"
EACH_TARGET_S = 20.0
COURSE_WORKERS = 2  # as the Makefile's NBVAL_WORKERS
COURSE_TARGET_S = 180.0
NBVAL = [
    "-m",
    "pytest",
    "--nbval",
    "--nbval-sanitize-with",
    "tests/nbval_sanitize.cfg",
    "-q",
    "-p",
    "no:cacheprovider",
]


@dataclass
class Run:
    label: str
    seconds: float
    cells: int
    ok: bool
    spread: str = ""
    """The fastest and slowest of repeated runs ("12.1-13.4"), when repeated."""


def _nbval(paths: list[Path], timeout: float, workers: int = 0) -> Run:
    parallel = ["-n", str(workers), "--dist", "loadfile"] if workers else []
    command = [sys.executable, *NBVAL, *parallel, *(str(p.relative_to(ROOT)) for p in paths)]
    env = dict(os.environ)
    started = time.perf_counter()
    try:
        result = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        output, ok = result.stdout, result.returncode == 0
    except subprocess.TimeoutExpired:
        output, ok = "", False
    seconds = time.perf_counter() - started
    passed = re.search(r"(\d+) passed", output)
    label = ", ".join(f"{p.parent.name}/{p.name}" for p in paths)
    return Run(label, seconds, int(passed.group(1)) if passed else 0, ok)


def _selected(selectors: list[str]) -> list[Path]:
    paths = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted(
        (ROOT / "solutions").glob("*.ipynb")
    )
    if selectors:
        paths = [p for p in paths if any(p.stem.startswith(s) for s in selectors)]
    return paths


def _coverage() -> str:
    """How much of the course existed when it was measured (lessons are written in parallel)."""
    spec = importlib.util.spec_from_file_location("build_course", ROOT / "scripts/build_course.py")
    if spec is None or spec.loader is None:
        return ""
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_course", module)
    spec.loader.exec_module(module)
    lessons = [x.slug for x in module.LESSONS]
    written = [s for s in lessons if (ROOT / "notebooks" / f"{s}.ipynb").is_file()]
    missing = [s.split("_", 1)[0] for s in lessons if s not in written]
    if not missing:
        return "Every lesson of the course was measured."
    return (
        f"At the time, {len(written)} of the course's {len(lessons)} lessons existed "
        f"(not yet written: {', '.join(missing)}); re-run to cover them."
    )


def _row(run: Run, target: float) -> str:
    verdict = "ok" if run.ok and run.seconds <= target else ("FAILED" if not run.ok else "SLOW")
    return f"| {run.label} | {run.cells} | {run.seconds:.1f} | {run.spread or '-'} | {verdict} |"


def _repeated(path: Path, timeout: float, repeat: int) -> Run:
    """The median of `repeat` runs: on a shared machine one run can be 10-20% off."""
    runs = [_nbval([path], timeout) for _ in range(repeat)]
    times = sorted(run.seconds for run in runs)
    spread = f"{times[0]:.1f}-{times[-1]:.1f}" if repeat > 1 else ""
    first = runs[0]
    return Run(first.label, statistics.median(times), first.cells, all(r.ok for r in runs), spread)


def report(selectors: list[str], timeout: float, repeat: int = 1) -> tuple[str, str]:
    """(the performance.md section, the README's headline rows)."""
    paths = _selected(selectors)
    if not paths:
        raise SystemExit("no notebook matches")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    runs = []
    for path in paths:
        run = _repeated(path, timeout, repeat)
        print(f"{run.label}: {run.seconds:.1f} s, {run.cells} cells, ok={run.ok}", flush=True)
        runs.append(run)
    course = _nbval(paths, timeout * len(paths), workers=COURSE_WORKERS)
    course.label = f"**whole course** ({len(paths)} notebooks)"
    print(f"whole course: {course.seconds:.1f} s, ok={course.ok}", flush=True)
    options = [f"--repeat {repeat}"] if repeat > 1 else []
    command = " ".join(["python scripts/bench_notebooks.py", *options, *selectors])
    each = f"the median of {repeat} runs of one" if repeat > 1 else "one"
    lines = [
        SECTION,
        "",
        f"Measured {date.today().isoformat()} with `.venv/bin/{command}`: wall-clock "
        f"seconds of {each} `pytest --nbval` process per notebook (interpreter and kernel "
        "start-up included; the range is the fastest and slowest run), then of all of "
        "them once as `make test` runs them (one pytest "
        f"process, {COURSE_WORKERS} nbval workers side by side). {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average "
        f"{load:.1f} at the start (the machine is shared). Targets: each notebook <= "
        f"{EACH_TARGET_S:g} s, the whole course <= {COURSE_TARGET_S:g} s. "
        f"{_coverage()}",
        "",
        "| notebook | cells | seconds | range | verdict |",
        "|---|---:|---:|---:|---|",
        *(_row(run, EACH_TARGET_S) for run in runs),
        _row(course, COURSE_TARGET_S),
        "",
    ]
    slowest = max(runs, key=lambda run: run.seconds)
    headline = [
        "| what (nbval, wall clock) | measured | target |",
        "|---|---:|---:|",
        f"| whole course, {len(paths)} notebooks and solutions | {course.seconds:.0f} s "
        f"| <= {COURSE_TARGET_S:g} s |",
        f"| slowest single notebook ({slowest.label}) | {slowest.seconds:.1f} s "
        f"| <= {EACH_TARGET_S:g} s |",
    ]
    return "\n".join(lines), "\n".join(headline)


def write_section(text: str) -> None:
    """Replace the section's body in docs/performance.md, keeping every other section."""
    doc = PERFORMANCE.read_text(encoding="utf-8")
    if SECTION not in doc:
        raise SystemExit(f"{PERFORMANCE.name} has no {SECTION!r} heading")
    head, rest = doc.split(SECTION, 1)
    following = re.search(r"^## ", rest, flags=re.MULTILINE)
    tail = rest[following.start() :] if following else ""
    PERFORMANCE.write_text(head + text + ("\n" + tail if tail else ""), encoding="utf-8")


def write_readme(headline: str) -> None:
    """The README's headline rows, between their markers."""
    text = README.read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        raise SystemExit(f"README.md needs {README_START} and {README_END}")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    README.write_text(f"{head}{README_START}\n{headline}\n{README_END}{tail}", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("selectors", nargs="*", help="lesson prefixes, e.g. 00 05 09b")
    parser.add_argument("--write", action="store_true", help="record in docs/performance.md")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per notebook run")
    parser.add_argument("--repeat", type=int, default=1, help="runs per notebook (the median)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    text, headline = report(args.selectors, args.timeout, args.repeat)
    print()
    print(text)
    if args.write:
        write_section(text)
        write_readme(headline)
        print(f"recorded in {PERFORMANCE.relative_to(ROOT)} and {README.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
