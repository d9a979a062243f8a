"""Build the course: notebooks from their sources, labs, navigation, the README table.

Every lesson and solution is written ONCE, as a jupytext percent-format script beside
its notebook (`notebooks/05_background_jobs.py` for `notebooks/05_background_jobs.ipynb`):
the `.py` holds the cells (reviewed, linted, type-checked), the `.ipynb` holds the same
cells plus the outputs that readers see and nbval compares. `jupytext.toml` in both
folders pairs them, so JupyterLab (with the jupytext extension that ships with the
`jupytext` package) saves both files at once.

The course is ONE ordered list, `LESSONS` below. Everything that lists lessons -
the navigation cell of every notebook, the lesson table in README.md, the course
map of the welcome notebook - is generated from it, so that they never disagree.

Usage (from any directory; paths are relative to the repository):

    .venv/bin/python scripts/build_course.py               # rebuild everything below
    .venv/bin/python scripts/build_course.py --check       # exit 1 if anything is stale
    .venv/bin/python scripts/build_course.py --execute 05  # run notebooks/05_* and
                                                           # solutions/05_* from fresh
                                                           # kernels, then rebuild
    .venv/bin/python scripts/build_course.py --execute     # run every notebook and solution
    .venv/bin/python scripts/build_course.py --execute 09b --timeout 300

What a build does (it rewrites a file only when its content changes):

0. `notebooks/NN_x.ipynb` (and `solutions/NN_x.ipynb`) takes its cells - sources, tags,
   order - from `NN_x.py`; the outputs of cells whose source did not change are kept
   (jupytext matches them), and so are cell ids. A source without a notebook gets
   one (no outputs: execute it); a notebook without a source gets its `.py` written
   from it. A notebook whose cells differ from its source AND that is newer than the
   source (edited without the jupytext extension) stops the build rather than lose
   the edit: `jupytext --sync` that notebook first.
1. `labs/NN_x.ipynb` is generated from `solutions/NN_x.ipynb`: each region between a
   `### BEGIN SOLUTION` line and a `### END SOLUTION` line becomes `# YOUR CODE HERE`
   and `raise NotImplementedError()` at the marker's indentation. Unclosed, unopened
   or nested markers stop the build with the file and cell. Cells tagged
   `solution-only` are left out of the lab. Labs are written without outputs.
2. Every markdown cell tagged `nav` (in sources, notebooks and labs) gets the
   previous/next/index links and the lab link; every markdown cell tagged
   `course-map` gets the lesson table. Links to files that do not exist yet are
   left out (the README table names them without a link).
3. README.md: the lesson table between `<!-- lessons:start -->` and
   `<!-- lessons:end -->`.
4. Notebooks are normalized: notebook metadata keeps only `kernelspec` and
   `language_info` (without the Python version); cell metadata keeps only
   `tags`, `jupyter`, `editable`, `deletable`, `slideshow` and jupytext's
   `lines_to_next_cell` (execution timings go);
   widget state and the widget-view part of outputs (random model ids) go, so a
   widget shows its text form until the notebook is run; consecutive pieces of the
   same output stream are joined into one. Outputs stay.
5. A *Quick check* cell (`Quiz.for_notebook("NN_x")` on its last line, or one question
   asked early: `Quiz.for_notebook("NN_x", only=["question-id"])`) that has run
   shows its quiz's text form; the build writes that text from the quiz file
   (`stream_or_queue/data/quiz/NN_x.json`, in the default learner's order), so that
   editing a quiz needs no notebook run and `--check` catches a stale one.

`--check` writes nothing and exits 1 when any of the above would change a file: a
notebook that disagrees with its source, a stale lab, navigation or README table.

`--execute` runs each notebook (its cells from its source) in a fresh kernel with
nbclient, with the notebook's folder as working directory, offline (it clears
STREAM_OR_QUEUE_MODE, REDIS_URL, ANTHROPIC_BASE_URL and STREAM_OR_QUEUE_TIME_SCALE for
the kernel so committed outputs are the canonical offline ones), `--timeout` seconds per
cell. A notebook that raises is NOT written; the error names the file and cell, and the
exit status is 1.

Selectors (`05`, `09`, `09b`, `05_background_jobs`) match lesson and lab names by prefix.
The module is importable (tests use `build()`, `make_lab()`, `LESSONS`).
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import secrets
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jupytext
import nbformat
from jupytext.combine import combine_inputs_with_outputs
from nbformat import NotebookNode

ROOT = Path(__file__).resolve().parent.parent

BINDER_REPO = "stream-or-queue/stream-or-queue"
"""PLACEHOLDER: the GitHub `owner/name` of the published repository (unknown yet)."""
BINDER_BRANCH = "main"


@dataclass(frozen=True)
class Lesson:
    """One notebook of the course, in course order."""

    slug: str
    title: str
    minutes: int
    """Workshop minutes for the lesson and its share of the lab."""
    lab: str = ""
    """The lab/solution notebook it belongs to (default: the same name)."""
    optional: bool = False
    """A "Going further" notebook: not in the workshop's minutes, marked optional everywhere."""

    @property
    def number(self) -> str:
        return self.slug.split("_", 1)[0]

    @property
    def lab_slug(self) -> str:
        return self.lab or self.slug

    @property
    def label(self) -> str:
        return f"{self.number} · {self.title}" + (" (optional)" if self.optional else "")


# THE course list: the names of docs/ARCHITECTURE.md, in order.
LESSONS: tuple[Lesson, ...] = (
    Lesson("00_welcome", "Welcome", 10),
    Lesson("01_sync_fast_path", "The sync fast path", 15),
    Lesson("02_streaming_chat", "Streaming chat", 20),
    Lesson("03_cancellation_and_conversation", "Cancellation and conversation", 15),
    Lesson("04_why_long_sync_requests_fail", "Why long sync requests fail", 20),
    Lesson("05_background_jobs", "Background jobs", 25),
    Lesson(
        "05x_background_jobs_going_further",
        "Background jobs: going further",
        15,
        "05_background_jobs",
        optional=True,
    ),
    Lesson("06_start_then_poll", "Start, then poll", 20),
    Lesson("07_batch_at_scale", "Batch at scale", 25),
    Lesson(
        "07x_batch_going_further",
        "Batch at scale: going further",
        15,
        "07_batch_at_scale",
        optional=True,
    ),
    Lesson("08_durability", "Durability", 20),
    Lesson("09a_research_v1_chat_box", "Research assistant v1: the chat box", 15, "09_capstone"),
    Lesson("09b_research_v2_job", "Research assistant v2: the job", 20, "09_capstone"),
    Lesson("09c_research_v3_batch", "Research assistant v3: batch", 15, "09_capstone"),
    Lesson("09d_research_results", "Research assistant: the results", 10, "09_capstone"),
    Lesson("10_choosing_a_pattern", "Choosing a pattern", 15),
)

LAB_TITLES: dict[str, str] = {"09_capstone": "Capstone: the research assistant"}
"""Titles of labs shared by several lessons (others take their lesson's title)."""

FOLDERS = ("notebooks", "solutions", "labs")
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
README_START, README_END = "<!-- lessons:start -->", "<!-- lessons:end -->"
GENERATED = "<!-- generated by scripts/build_course.py: edit LESSONS there, not here -->"

NOTEBOOK_METADATA_KEPT = ("kernelspec", "language_info")
CELL_METADATA_KEPT = ("tags", "jupyter", "editable", "deletable", "slideshow")
SPACING = "lines_to_next_cell"
"""jupytext's record of the blank lines after a cell in its source (when not the default):
kept in notebooks so that a notebook converts back to exactly its source - JupyterLab
refuses to open a notebook newer than its source unless they match."""
VOLATILE_MIME = ("application/vnd.jupyter.widget-view+json",)
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
SOURCE_FORMAT = "py:percent"
"""The format of every lesson's source (the `formats` of notebooks/ and solutions/jupytext.toml)."""
SOURCE_GLOB = "[0-9][0-9]*.py"
"""Which `.py` in notebooks/ and solutions/ are lesson sources."""
SOURCE_FILTERS = {
    # No header: the kernel and language are the same for every lesson (normalize sets them).
    "notebook_metadata_filter": "-all",
    "cell_metadata_filter": ",".join((*CELL_METADATA_KEPT, "-all")),
}
"""jupytext's metadata filters for the sources; jupytext.toml says the same (a test checks)."""
OFFLINE_ENV_CLEARED = (
    "STREAM_OR_QUEUE_MODE",
    "REDIS_URL",
    "ANTHROPIC_BASE_URL",
    "STREAM_OR_QUEUE_TIME_SCALE",
)
HUMAN_CLOCK = "STREAM_OR_QUEUE_HUMAN_TIME_SCALE"
HUMAN_CLOCK_WHEN_BUILDING = "0.01"

__all__ = [
    "BINDER_REPO",
    "LESSONS",
    "BuildError",
    "Lab",
    "Lesson",
    "MarkerError",
    "binder_url",
    "build",
    "execute",
    "labs",
    "make_lab",
    "normalize",
    "paired",
    "read_source",
    "readme_table",
    "select",
    "source_text",
]


class BuildError(Exception):
    """The course cannot be built as it is; the message says where and why."""


class MarkerError(BuildError):
    """Solution markers that do not pair up."""


@dataclass(frozen=True)
class Lab:
    slug: str
    lessons: tuple[Lesson, ...] = field(default=())

    @property
    def number(self) -> str:
        return self.slug.split("_", 1)[0]

    @property
    def title(self) -> str:
        return LAB_TITLES.get(self.slug) or self.lessons[0].title

    @property
    def label(self) -> str:
        return f"Lab {self.number} · {self.title}"


def labs() -> tuple[Lab, ...]:
    """The labs in course order (a lab shared by several lessons appears once)."""
    order: dict[str, list[Lesson]] = {}
    for lesson in LESSONS:
        order.setdefault(lesson.lab_slug, []).append(lesson)
    return tuple(Lab(slug, tuple(lessons)) for slug, lessons in order.items())


def select(selectors: Sequence[str]) -> set[str]:
    """Names (lessons and labs) matched by prefix selectors; all of them if none."""
    names = {lesson.slug for lesson in LESSONS} | {lab.slug for lab in labs()}
    if not selectors:
        return names
    chosen: set[str] = set()
    for selector in selectors:
        matched = {name for name in names if name.startswith(selector)}
        if not matched:
            raise BuildError(f"no lesson or lab matches {selector!r}; known: {sorted(names)}")
        chosen |= matched
    return chosen


# --- labs from solutions -----------------------------------------------------------


def strip_solutions(source: str, where: str) -> str:
    """Replace every marked region of one cell's source with the exercise stub."""
    out: list[str] = []
    opened_at: int | None = None
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        stripped = line.strip()
        is_begin, is_end = stripped == BEGIN, stripped == END
        if not (is_begin or is_end) and ("BEGIN SOLUTION" in line or "END SOLUTION" in line):
            raise MarkerError(
                f"{where}, line {number}: malformed marker {stripped!r}; "
                f"write exactly {BEGIN!r} or {END!r} on a line of its own"
            )
        if is_begin:
            if opened_at is not None:
                raise MarkerError(
                    f"{where}, line {number}: nested {BEGIN!r} (the region opened on "
                    f"line {opened_at} is not closed yet)"
                )
            opened_at = number
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(f"{indent}{stub}\n" for stub in STUB)
        elif is_end:
            if opened_at is None:
                raise MarkerError(f"{where}, line {number}: {END!r} without a {BEGIN!r} before it")
            opened_at = None
        elif opened_at is None:
            out.append(line)
    if opened_at is not None:
        raise MarkerError(f"{where}, line {opened_at}: {BEGIN!r} is never closed by {END!r}")
    text = "".join(out)
    return text[:-1] if text.endswith("\n") and not source.endswith("\n") else text


def make_lab(solution: NotebookNode, name: str = "solution") -> NotebookNode:
    """The lab notebook for a solution notebook: exercises stubbed, no outputs."""
    lab = copy.deepcopy(solution)
    cells = []
    regions = 0
    for index, cell in enumerate(lab.cells):
        if "solution-only" in cell.get("metadata", {}).get("tags", []):
            continue
        if cell.cell_type == "code":
            before = cell.source
            cell.source = strip_solutions(before, f"{name}: cell {index}")
            regions += before.count(BEGIN)
            cell.outputs = []
            cell.execution_count = None
        cell.get("metadata", {}).pop(SPACING, None)  # a lab has no source to match
        cells.append(cell)
    if regions == 0:
        raise MarkerError(
            f"{name}: no {BEGIN!r} region, so the lab would have nothing to do; mark the "
            "lines the learner writes (inside a function body)"
        )
    lab.cells = cells
    return normalize(lab)


# --- normalization -------------------------------------------------------------------


def normalize(nb: NotebookNode) -> NotebookNode:
    """Drop volatile metadata and widget state; keep sources and outputs."""
    nb = copy.deepcopy(nb)
    metadata = {k: v for k, v in nb.metadata.items() if k in NOTEBOOK_METADATA_KEPT}
    metadata["kernelspec"] = dict(KERNELSPEC)
    language = dict(metadata.get("language_info") or {"name": "python"})
    language.pop("version", None)
    metadata["language_info"] = language
    nb.metadata = nbformat.from_dict(metadata)
    for cell in nb.cells:
        cell.metadata = nbformat.from_dict(
            {
                k: v
                for k, v in cell.get("metadata", {}).items()
                if k in CELL_METADATA_KEPT or k == SPACING
            }
        )
        if cell.cell_type != "code":
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
            continue
        kept: list[NotebookNode] = []
        for output in cell.get("outputs", []):
            data = output.get("data")
            if data is not None:
                for mime in VOLATILE_MIME:
                    data.pop(mime, None)
                if not data:
                    continue
            previous = kept[-1] if kept else None
            if (
                output.output_type == "stream"
                and previous is not None
                and previous.output_type == "stream"
                and previous.name == output.name
            ):
                # One output per print() (e.g. a streamed answer) -> one block, as shown.
                previous.text += output.text
                continue
            kept.append(output)
        cell.outputs = kept
    nbformat.validate(nb)
    return nb


# --- navigation, course map, README -------------------------------------------------


def _exists(root: Path, folder: str, slug: str) -> bool:
    """Whether a course file exists or is built (a lab from its solution, a notebook from its
    source)."""
    if folder == "labs":
        folder = "solutions"
    return any((root / folder / f"{slug}{ext}").is_file() for ext in (".ipynb", ".py"))


def _link(text: str, target: Path, base: Path) -> str:
    return f"[{text}]({Path(os.path.relpath(target, base)).as_posix()})"


def _neighbours(names: Sequence[str], current: str) -> tuple[str | None, str | None]:
    index = names.index(current)
    before = names[index - 1] if index > 0 else None
    after = names[index + 1] if index + 1 < len(names) else None
    return before, after


def _prev_next_line(root: Path, folder: str, items: Sequence[tuple[str, str]], current: str) -> str:
    """`← previous | index | next →` among `items` (slug, label) that exist in `folder`."""
    base = root / folder
    labels = dict(items)
    existing = [slug for slug, _ in items if _exists(root, folder, slug) or slug == current]
    before, after = _neighbours(existing, current)
    readme = Path(os.path.relpath(root / "README.md", base)).as_posix()
    line = []
    if before:
        line.append("← " + _link(labels[before], base / f"{before}.ipynb", base))
    line.append(f"[Course index]({readme}#lessons)")
    if after:
        line.append(_link(labels[after], base / f"{after}.ipynb", base) + " →")
    return " | ".join(line)


def nav_markdown(root: Path, folder: str, slug: str) -> str:
    """The navigation cell of `folder/slug.ipynb` (links only to files that exist)."""
    base = root / folder
    extras: list[str] = []
    if folder == "notebooks":
        items = [(x.slug, x.label) for x in LESSONS]
        lesson = next(x for x in LESSONS if x.slug == slug)
        lab = next(x for x in labs() if x.slug == lesson.lab_slug)
        if _exists(root, "labs", lab.slug):
            extras.append("**Lab:** " + _link(lab.label, root / "labs" / f"{lab.slug}.ipynb", base))
        if _exists(root, "solutions", lab.slug):
            extras.append(_link("solution", root / "solutions" / f"{lab.slug}.ipynb", base))
    else:
        items = [(x.slug, x.label) for x in labs()]
        lab = next(x for x in labs() if x.slug == slug)
        lessons = [
            _link(x.label, root / "notebooks" / f"{x.slug}.ipynb", base)
            for x in lab.lessons
            if _exists(root, "notebooks", x.slug)
        ]
        if lessons:
            extras.append("**Lesson:** " + ", ".join(lessons))
        other = "solutions" if folder == "labs" else "labs"
        if _exists(root, other, slug):
            word = "Solution" if other == "solutions" else "Lab"
            extras.append(f"**{word}:** " + _link(slug, root / other / f"{slug}.ipynb", base))
    parts = [_prev_next_line(root, folder, items, slug)]
    if extras:
        parts.append(" · ".join(extras))
    return "\n\n".join([GENERATED, "---", *parts])


def course_map_markdown(root: Path, folder: str) -> str:
    """The course map (lessons, labs and minutes) with links relative to `folder`."""
    base = root / folder
    rows = ["| # | lesson | lab | minutes |", "|---|---|---|---:|"]
    for lesson in LESSONS:
        target = root / "notebooks" / f"{lesson.slug}.ipynb"
        title = (
            _link(lesson.title, target, base)
            if _exists(root, "notebooks", lesson.slug)
            else lesson.title
        )
        lab_path = root / "labs" / f"{lesson.lab_slug}.ipynb"
        lab = (
            _link(lesson.lab_slug, lab_path, base)
            if _exists(root, "labs", lesson.lab_slug)
            else lesson.lab_slug
        )
        minutes = f"*{lesson.minutes}, optional*" if lesson.optional else str(lesson.minutes)
        rows.append(f"| {lesson.number} | {title} | {lab} | {minutes} |")
    total = sum(lesson.minutes for lesson in LESSONS if not lesson.optional)
    rows.append(f"| | **whole course** | | **{total}** |")
    return "\n".join([GENERATED, "", *rows])


def readme_table(root: Path) -> str:
    """The README lesson table: every lesson, linked where the file exists."""

    def cell(folder: str, slug: str, text: str) -> str:
        if _exists(root, folder, slug):
            return f"[{text}]({folder}/{slug}.ipynb)"
        return f"{text} *(in progress)*"

    rows = ["| # | lesson | lab | solution | minutes |", "|---|---|---|---|---:|"]
    for lesson in LESSONS:
        rows.append(
            f"| {lesson.number} | {cell('notebooks', lesson.slug, lesson.title)} "
            f"| {cell('labs', lesson.lab_slug, lesson.lab_slug)} "
            f"| {cell('solutions', lesson.lab_slug, 'solution')} "
            f"| {f'*{lesson.minutes}, optional*' if lesson.optional else lesson.minutes} |"
        )
    total = sum(lesson.minutes for lesson in LESSONS if not lesson.optional)
    rows.append(f"| | **whole course** | | | **{total}** |")
    return "\n".join([GENERATED, "", *rows, ""])


def binder_url(path: str = "notebooks/00_welcome.ipynb") -> str:
    return f"https://mybinder.org/v2/gh/{BINDER_REPO}/{BINDER_BRANCH}?urlpath=lab/tree/{path}"


def render_readme(text: str, root: Path) -> str:
    if README_START not in text or README_END not in text:
        raise BuildError(f"README.md needs the markers {README_START} and {README_END}")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    return f"{head}{README_START}\n{readme_table(root)}{README_END}{tail}"


def fill_generated_cells(nb: NotebookNode, root: Path, folder: str, slug: str) -> NotebookNode:
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type != "markdown":
            continue
        if "nav" in tags:
            cell.source = nav_markdown(root, folder, slug)
        elif "course-map" in tags:
            cell.source = course_map_markdown(root, folder)
    return nb


# --- sources: the percent scripts paired with the notebooks -----------------------


def read_source(path: Path) -> NotebookNode:
    """The cells of a percent-format source (no outputs)."""
    try:
        nb = jupytext.reads(path.read_text(encoding="utf-8"), fmt=SOURCE_FORMAT)
    except Exception as exc:  # jupytext raises several kinds on a broken file
        raise BuildError(f"{path}: not a readable percent-format source ({exc})") from exc
    nb.metadata["jupytext"] = dict(SOURCE_FILTERS)
    return nb


def source_text(nb: NotebookNode) -> str:
    """The percent-format source of a notebook's cells (what jupytext in JupyterLab saves)."""
    nb = copy.deepcopy(nb)
    nb.metadata = nbformat.from_dict({"jupytext": dict(SOURCE_FILTERS)})
    text: str = jupytext.writes(nb, fmt=SOURCE_FORMAT)
    return text


def _inputs(nb: NotebookNode) -> list[tuple[str, str, list[str]]]:
    """What the author writes in a cell (generated cells count by their tags only)."""
    rows = []
    for cell in nb.cells:
        tags = list(cell.get("metadata", {}).get("tags", []))
        generated = cell.cell_type == "markdown" and {"nav", "course-map"} & set(tags)
        rows.append((cell.cell_type, "" if generated else cell.source, tags))
    return rows


def paired(
    root: Path, folder: str, slug: str, *, check: bool = False
) -> tuple[NotebookNode, NotebookNode]:
    """The cells of `folder/slug.py` and the notebook built from them.

    The notebook has the source's cells (generated cells filled in) with the outputs and
    ids of the existing `.ipynb` where jupytext matches a cell. Without a `.py` the
    `.ipynb` is the source (its `.py` gets written). Outside `check`, a notebook whose
    cells differ from its source and that was saved after it is an edit made without
    the jupytext extension: refused, so that no edit is lost.
    """
    source_path = root / folder / f"{slug}.py"
    nb_path = root / folder / f"{slug}.ipynb"
    outputs = _read(nb_path) if nb_path.is_file() else None
    if source_path.is_file():
        cells = read_source(source_path)
        if (
            not check
            and outputs is not None
            and _inputs(outputs) != _inputs(cells)
            and nb_path.stat().st_mtime > source_path.stat().st_mtime
        ):
            rel = nb_path.relative_to(root)
            raise BuildError(
                f"{rel}: its cells differ from {source_path.name} and it was saved after it "
                f"(edited without the jupytext extension?); keep the notebook's version with "
                f"`.venv/bin/jupytext --sync {rel}`, or `touch {source_path.relative_to(root)}` "
                "to keep the source's"
            )
    elif outputs is not None:
        cells = copy.deepcopy(outputs)
        for cell in cells.cells:
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
        cells.metadata["jupytext"] = dict(SOURCE_FILTERS)
    else:
        raise BuildError(f"{source_path.relative_to(root)}: no such source")
    cells = fill_generated_cells(cells, root, folder, slug)
    if outputs is None:
        nb = copy.deepcopy(cells)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
    else:
        nb = combine_inputs_with_outputs(copy.deepcopy(cells), outputs, fmt=SOURCE_FORMAT)
    return cells, refresh_quiz_outputs(normalize(nb))


_QUIZ_CELL = re.compile(
    r"""Quiz\.for_notebook\(\s*["'](?P<name>[\w-]+)["']"""
    r"""(?:\s*,\s*only=\[(?P<only>[^\]]*)\])?\s*\)\s*$"""
)


def refresh_quiz_outputs(nb: NotebookNode) -> NotebookNode:
    """Quick-check cells that have run show their quiz's current text form (step 5)."""
    from stream_or_queue.widgets.quiz import DEFAULT_LEARNER, Quiz

    for cell in nb.cells:
        match = _QUIZ_CELL.search(cell.source) if cell.cell_type == "code" else None
        if not match:
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "execute_result":
                only = re.findall(r"[\w-]+", match["only"]) if match["only"] else None
                quiz = Quiz.for_notebook(match["name"], only=only, learner_seed=DEFAULT_LEARNER)
                output["data"]["text/plain"] = repr(quiz)
    return nb


# --- the build ----------------------------------------------------------------------


def _slugs(root: Path, folder: str) -> list[str]:
    """Every lesson name in `folder`, from its sources and its notebooks.

    Sources are the `.py` named like lessons (`NN_...`): the job modules that lessons 05
    and 09 write beside themselves with `%%writefile` (for RQ workers to import) are not.
    """
    sources = (root / folder).glob(SOURCE_GLOB)
    return sorted({p.stem for p in sources} | {p.stem for p in (root / folder).glob("*.ipynb")})


def _known(folder: str) -> set[str]:
    if folder == "notebooks":
        return {lesson.slug for lesson in LESSONS}
    return {lab.slug for lab in labs()}


def _serialize(nb: NotebookNode) -> str:
    return nbformat.writes(nb, version=4) + "\n"


def _write_if_changed(path: Path, text: str, check: bool, stale: list[Path]) -> None:
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    stale.append(path)
    if check:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # Atomic replace: another process reading the notebook never sees half a file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _read(path: Path) -> NotebookNode:
    try:
        with warnings.catch_warnings():
            # A cell without an id (hand-written JSON) gets one below instead of a warning.
            warnings.simplefilter("ignore")
            nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
    except Exception as exc:  # a half-written or hand-broken file
        raise BuildError(f"{path}: not a readable notebook ({exc})") from exc
    if (nb.nbformat, nb.get("nbformat_minor", 0)) >= (4, 5):
        for cell in nb.cells:
            if not cell.get("id"):
                cell["id"] = secrets.token_hex(4)
    return nb


def build(
    root: Path = ROOT,
    *,
    check: bool = False,
    only: Iterable[str] | None = None,
) -> list[Path]:
    """Regenerate labs, navigation, course maps, the README table; normalize notebooks.

    Returns the files that changed (or, with `check=True`, that are stale and would
    change; nothing is written). `only` limits the notebooks processed to those
    names; the README is always rebuilt. Errors in several files are all reported.
    """
    names = set(only) if only is not None else None
    stale: list[Path] = []
    errors: list[str] = []
    for folder in ("notebooks", "solutions"):
        for slug in _slugs(root, folder):
            if slug not in _known(folder):
                errors.append(
                    f"{folder}/{slug}.ipynb: not in the course list; add it to LESSONS in "
                    "scripts/build_course.py (names: docs/ARCHITECTURE.md)"
                )
    for lab_path in sorted((root / "labs").glob("*.ipynb")):
        if not _exists(root, "solutions", lab_path.stem):
            errors.append(
                f"{lab_path.relative_to(root)}: has no solutions/{lab_path.name} to come from"
            )
    for folder in ("notebooks", "solutions"):
        for slug in _slugs(root, folder):
            if slug not in _known(folder) or (names is not None and slug not in names):
                continue
            path = root / folder / f"{slug}.ipynb"
            rel = path.relative_to(root)
            try:
                cells, nb = paired(root, folder, slug, check=check)
                _write_if_changed(path.with_suffix(".py"), source_text(cells), check, stale)
                _write_if_changed(path, _serialize(nb), check, stale)
                if folder == "solutions":
                    lab = make_lab(nb, str(rel))
                    lab = fill_generated_cells(lab, root, "labs", path.stem)
                    _write_if_changed(root / "labs" / path.name, _serialize(lab), check, stale)
            except BuildError as exc:
                errors.append(str(exc))
    readme = root / "README.md"
    if readme.is_file():
        try:
            text = readme.read_text(encoding="utf-8")
            _write_if_changed(readme, render_readme(text, root), check, stale)
        except BuildError as exc:
            errors.append(str(exc))
    if errors:
        raise BuildError("\n".join(errors))
    return stale


# --- execution ------------------------------------------------------------------------


def execute(path: Path, *, timeout: float = 120.0) -> NotebookNode:
    """Run a notebook (its cells from its source) top to bottom in a fresh kernel, offline;
    return it executed."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    root, folder = path.parent.parent, path.parent.name
    _, nb = paired(root, folder, path.stem)
    saved = {name: os.environ.pop(name) for name in OFFLINE_ENV_CLEARED if name in os.environ}
    # what a person drives plays in real time for a learner; here nobody watches, and the
    # outputs (simulated seconds) are the same on either clock, so run it at the fast one
    human = os.environ.get(HUMAN_CLOCK)
    os.environ[HUMAN_CLOCK] = HUMAN_CLOCK_WHEN_BUILDING
    try:
        client = NotebookClient(
            nb,
            timeout=int(timeout),
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
            store_widget_state=False,
            record_timing=False,
        )
        client.execute()
    except (CellExecutionError, CellTimeoutError) as exc:
        raise BuildError(f"{path}: execution failed\n{exc}") from exc
    finally:
        os.environ.update(saved)
        if human is None:
            os.environ.pop(HUMAN_CLOCK, None)
        else:
            os.environ[HUMAN_CLOCK] = human
    return nb


def _execute_selected(root: Path, names: set[str], timeout: float) -> list[str]:
    errors: list[str] = []
    found = [
        slug
        for folder in ("notebooks", "solutions")
        for slug in _slugs(root, folder)
        if slug in names
    ]
    if not found:
        print(f"nothing to execute: no notebook or solution named {sorted(names)} yet")
    for folder in ("notebooks", "solutions"):
        for slug in _slugs(root, folder):
            if slug not in names or slug not in _known(folder):
                continue
            path = root / folder / f"{slug}.ipynb"
            started = time.perf_counter()
            print(f"executing {path.relative_to(root)} ...", end=" ", flush=True)
            try:
                nb = execute(path, timeout=timeout)
            except BuildError as exc:
                print("FAILED")
                errors.append(str(exc))
                continue
            nb = fill_generated_cells(normalize(nb), root, folder, path.stem)
            _write_if_changed(path, _serialize(nb), False, [])
            print(f"ok ({time.perf_counter() - started:.1f} s)")
    return errors


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build the course (labs, navigation, README table, clean notebooks).",
        epilog="Example: scripts/build_course.py --execute 05  (see the module docstring)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if anything is stale")
    parser.add_argument(
        "--execute",
        nargs="*",
        metavar="NN",
        default=None,
        help="execute these notebooks and solutions (all when no NN is given) first",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per cell")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()
    try:
        if args.check:
            if args.execute is not None:
                parser.error("--check and --execute do not mix")
            stale = build(root, check=True)
            for path in stale:
                print(f"stale: {path.relative_to(root)}")
            if stale:
                print("run: .venv/bin/python scripts/build_course.py")
                return 1
            print("course is up to date")
            return 0
        errors: list[str] = []
        if args.execute is not None:
            errors = _execute_selected(root, select(args.execute), args.timeout)
        changed = build(root)
        for path in changed:
            print(f"wrote {path.relative_to(root)}")
        if errors:
            print("\n\n".join(errors), file=sys.stderr)
            return 1
        return 0
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
