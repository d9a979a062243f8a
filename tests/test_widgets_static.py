"""Saved forms of live widgets: what GitHub or nbviewer shows of a widget in a saved notebook.

The mechanism runs in a real kernel (nbclient, as `scripts/build_course.py --execute`
does); the committed notebooks are scanned for widget outputs without a faithful form.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import ipywidgets
import nbformat
import pytest
from nbclient import NotebookClient
from nbval.plugin import get_sanitize_patterns

from stream_or_queue import Pattern
from stream_or_queue.widgets import ProgressBar
from stream_or_queue.widgets._static import HTML_MARK, MARK, bar

ROOT = Path(__file__).resolve().parent.parent
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
COURSE_WIDGETS = ("ChatBox", "JobBoard", "Inbox", "DecisionGuide", "ProgressBar")
IPYWIDGETS = sorted(
    name
    for name in dir(ipywidgets)
    if isinstance(getattr(ipywidgets, name), type)
    and issubclass(getattr(ipywidgets, name), ipywidgets.Widget)
)


def sanitize(text: str) -> str:
    """What nbval compares: the text after tests/nbval_sanitize.cfg's patterns."""
    patterns = get_sanitize_patterns((ROOT / "tests" / "nbval_sanitize.cfg").read_text())
    for regex, replace in patterns:
        text = re.sub(regex, replace, text)
    return text


def test_a_text_bar_has_a_fixed_width_and_clamps() -> None:
    assert bar(0.0) == "\N{LIGHT SHADE}" * 20
    assert bar(1.0) == bar(1.7) == "\N{FULL BLOCK}" * 20
    assert bar(0.5, width=4) == "\N{FULL BLOCK}" * 2 + "\N{LIGHT SHADE}" * 2
    assert bar(-1.0, width=3) == "\N{LIGHT SHADE}" * 3


def test_a_progress_bar_form_is_its_count() -> None:
    progress = ProgressBar(max=9_992, description="batch 1")
    progress.value = 4_996
    text, page = progress.static_forms()
    assert text == f"ProgressBar ({MARK})\nbatch 1: {bar(0.5)} 4,996/9,992 (50%)"
    assert page.startswith(HTML_MARK.format(name="ProgressBar")) and "4,996/9,992" in page
    progress.value, progress.bar_style = 9_992, "success"
    assert progress.static_text().endswith("9,992/9,992 (100%) done")
    progress.bar_style = "warning"
    assert progress.static_text().endswith("(100%) stopped short")


def test_nbval_compares_a_form_only_up_to_the_widget_name() -> None:
    progress = ProgressBar(max=10, description="<work>")
    at_display = progress._repr_mimebundle_()
    progress.value = 10
    final = progress._repr_mimebundle_()
    assert at_display["text/plain"] != final["text/plain"]
    for mime in ("text/plain", "text/html"):
        assert sanitize(at_display[mime]) == sanitize(final[mime])
    assert sanitize(final["text/plain"]) == "ProgressBar (live widget)"
    assert "&lt;work&gt;" in final["text/html"]  # escaped
    # other text is left alone, including a ChatBox snapshot
    snapshot = "ChatBox · claude-sonnet-4-6 · 2 turns (a live widget: run the notebook to chat)"
    assert sanitize(snapshot) == snapshot


def _run(cells: list[str]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    NotebookClient(nb, timeout=60, kernel_name="python3", store_widget_state=False).execute()
    return nb


@pytest.mark.slow
def test_a_saved_notebook_shows_each_widget_as_the_run_left_it() -> None:
    nb = _run(
        [
            "from stream_or_queue.widgets import DecisionGuide, ProgressBar\n"
            "work = ProgressBar(max=10, description='work')\n"
            "work",
            "for _ in range(10):\n    work.value += 1\nwork.bar_style = 'success'",
            "guide = DecisionGuide()\nguide",
            "guide.expected_seconds.value = 120\nprint('changed')",
            "gone = ProgressBar(max=3, description='closed')\ngone",
            "gone.value = 3\ngone.close()",
        ]
    )
    outputs = [cell.outputs for cell in nb.cells]
    (bar_output,) = outputs[0]
    assert bar_output.output_type == "display_data" and WIDGET_VIEW in bar_output.data
    assert bar_output.data["text/plain"].endswith("work: " + bar(1.0) + " 10/10 (100%) done")
    (guide_output,) = outputs[2]
    guide_text = guide_output.data["text/plain"]
    assert "Expected duration (s) 120" in guide_text
    assert f"-> {Pattern.ASYNC_PROGRESS}:" in guide_text
    assert [o.get("text") for o in outputs[3]] == ["changed\n"]  # the hook prints nothing
    (closed_output,) = outputs[4]  # closed before a cell ended: keeps the form it had
    assert closed_output.data["text/plain"].endswith("0/3 (0%)")
    assert all(o.output_type != "error" for cell in outputs for o in cell)


def _outputs(path: Path) -> list[tuple[int, dict[str, object]]]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [
        (index, output.get("data", {}))
        for index, cell in enumerate(nb["cells"])
        for output in cell.get("outputs", [])
    ]


def _text(value: object) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


COMMITTED = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted(
    (ROOT / "solutions").glob("*.ipynb")
)
CONSTRUCTOR_REPR = re.compile(rf"^(?:{'|'.join((*IPYWIDGETS, *COURSE_WIDGETS))})\(")
WIDGET_TEXT = re.compile(rf"^(?:{'|'.join(COURSE_WIDGETS)})\b")


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_widget_outputs_have_a_faithful_text_form(path: Path) -> None:
    problems = []
    for index, data in _outputs(path):
        text = _text(data.get("text/plain", ""))
        if CONSTRUCTOR_REPR.match(text):
            problems.append(f"cell {index}: a widget's default repr {text[:60]!r}")
        elif WIDGET_TEXT.match(text) and "text/html" not in data:
            problems.append(f"cell {index}: a widget shown without its saved form {text[:60]!r}")
        elif f"({MARK})" in text.partition("\n")[0] and "soq-static" not in _text(
            data.get("text/html", "")
        ):
            problems.append(f"cell {index}: a saved form without its HTML twin")
    assert not problems, f"{path.name}: re-execute it (build_course.py --execute): {problems}"
