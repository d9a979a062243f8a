"""scripts/build_course.py: notebooks from sources, labs, navigation, README, normalization."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import nbformat
import pytest
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parent.parent


def _load() -> ModuleType:
    if "build_course" in sys.modules:  # one module object for every test file
        return sys.modules["build_course"]
    spec = importlib.util.spec_from_file_location("build_course", ROOT / "scripts/build_course.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_course"] = module
    spec.loader.exec_module(module)
    return module


bc = _load()

SOLUTION_CELL = """def ttft(xs):
    \"\"\"Doc.\"\"\"
    ### BEGIN SOLUTION
    first = xs[0]
    return first
    ### END SOLUTION


def other():
    if True:
        ### BEGIN SOLUTION
        return 1
        ### END SOLUTION"""


def _nav() -> NotebookNode:
    return new_markdown_cell("", metadata={"tags": ["nav"]})


def _solution(source: str = SOLUTION_CELL) -> NotebookNode:
    cell = new_code_cell(source, execution_count=1)
    cell.outputs = [new_output("stream", name="stdout", text="hi\n")]
    return new_notebook(cells=[new_markdown_cell("# Lab"), cell, _nav()])


def _write_source(path: Path, nb: NotebookNode) -> None:
    path.write_text(bc.source_text(nb), encoding="utf-8")


def _edit_source(path: Path, edit: Callable[[NotebookNode], None]) -> None:
    """Change a lesson's `.py` the way an author does (the notebook is left as it was)."""
    nb = bc.read_source(path)
    edit(nb)
    _write_source(path, nb)


def _course(tmp_path: Path) -> Path:
    """A small course: lessons 00 and 02 (sources only) with a solution for 00 (source and
    notebook with outputs), and a README."""
    for folder in ("notebooks", "solutions", "labs"):
        (tmp_path / folder).mkdir()
    for slug in ("00_welcome", "02_streaming_chat"):
        nb = new_notebook(cells=[new_markdown_cell(f"# {slug}"), _nav()])
        _write_source(tmp_path / "notebooks" / f"{slug}.py", nb)
    nbformat.write(_solution(), tmp_path / "solutions" / "00_welcome.ipynb")
    _write_source(tmp_path / "solutions" / "00_welcome.py", _solution())
    (tmp_path / "README.md").write_text(
        "# Course\n\n<!-- lessons:start -->\nold\n<!-- lessons:end -->\n\nafter\n", encoding="utf-8"
    )
    return tmp_path


# --- markers -------------------------------------------------------------------------


def test_solution_regions_become_stubs_at_their_indentation() -> None:
    lab = bc.strip_solutions(SOLUTION_CELL, "x")
    assert "first = xs[0]" not in lab and "return 1" not in lab
    assert "    # YOUR CODE HERE\n    raise NotImplementedError()\n" in lab
    assert "        # YOUR CODE HERE\n        raise NotImplementedError()" in lab
    assert '"""Doc."""' in lab and "def other():" in lab
    assert "SOLUTION" not in lab
    compile(lab, "lab", "exec")  # the lab still parses


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "def f():\n    ### BEGIN SOLUTION\n    return 1\n",
            "line 2: '### BEGIN SOLUTION' is never",
        ),
        ("def f():\n    return 1\n    ### END SOLUTION\n", "line 3: '### END SOLUTION' without"),
        (
            "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n### END SOLUTION",
            "line 2: nested",
        ),
        ("def f():\n    ## BEGIN SOLUTION\n", "line 2: malformed marker"),
    ],
)
def test_bad_markers_are_refused_with_file_and_cell(source: str, message: str) -> None:
    nb = new_notebook(cells=[new_markdown_cell("# t"), new_code_cell(source)])
    with pytest.raises(bc.MarkerError, match=message) as info:
        bc.make_lab(nb, "solutions/07_x.ipynb")
    assert "solutions/07_x.ipynb: cell 1" in str(info.value)


def test_a_solution_without_regions_is_refused() -> None:
    with pytest.raises(bc.MarkerError, match="nothing to do"):
        bc.make_lab(new_notebook(cells=[new_code_cell("x = 1")]), "s.ipynb")


def test_lab_has_no_outputs_no_counts_and_no_solution_only_cells() -> None:
    nb = _solution()
    nb.cells.append(new_markdown_cell("answer notes", metadata={"tags": ["solution-only"]}))
    lab = bc.make_lab(nb)
    assert all(c.outputs == [] and c.execution_count is None for c in lab.cells if "outputs" in c)
    assert not any("answer notes" in c.source for c in lab.cells)
    assert nb.cells[1].outputs, "the solution itself is not modified"


# --- normalization ---------------------------------------------------------------------


def test_normalize_strips_volatile_metadata_and_keeps_outputs() -> None:
    nb = _solution()
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.9"}
    nb.metadata["vscode"] = {"interpreter": "x"}
    cell = nb.cells[1]
    cell.metadata["execution"] = {"iopub.execute_input": "2026-01-01T00:00:00Z"}
    cell.metadata["tags"] = ["nbval-ignore-output", "why:timing"]
    cell.outputs.append(
        new_output(
            "display_data",
            data={
                "text/plain": "Quiz",
                "application/vnd.jupyter.widget-view+json": {"model_id": "abc"},
            },
        )
    )
    clean = bc.normalize(nb)
    assert set(clean.metadata) == {"kernelspec", "language_info"}
    assert "version" not in clean.metadata["language_info"]
    assert clean.cells[1].metadata == {"tags": ["nbval-ignore-output", "why:timing"]}
    assert clean.cells[1].outputs[0]["text"] == "hi\n"
    assert clean.cells[1].outputs[1]["data"] == {"text/plain": "Quiz"}
    assert bc._serialize(bc.normalize(clean)) == bc._serialize(clean)


# --- the build -------------------------------------------------------------------------


def test_build_writes_lab_navigation_and_readme_then_is_idempotent(tmp_path: Path) -> None:
    root = _course(tmp_path)
    changed = bc.build(root)
    assert root / "labs" / "00_welcome.ipynb" in changed
    assert bc.build(root) == []
    assert bc.build(root, check=True) == []

    lab = nbformat.read(root / "labs" / "00_welcome.ipynb", as_version=4)
    assert "raise NotImplementedError()" in lab.cells[1].source

    nav = nbformat.read(root / "notebooks" / "00_welcome.ipynb", as_version=4).cells[-1].source
    # 01 does not exist: 00's next lesson is 02; the lab exists.
    assert "[02 · Streaming chat](02_streaming_chat.ipynb) →" in nav
    assert "../labs/00_welcome.ipynb" in nav and "../solutions/00_welcome.ipynb" in nav
    assert "../README.md#lessons" in nav
    nav02 = nbformat.read(root / "notebooks" / "02_streaming_chat.ipynb", as_version=4)
    assert "← [00 · Welcome](00_welcome.ipynb)" in nav02.cells[-1].source
    assert "labs/02" not in nav02.cells[-1].source  # no lab yet, no link

    lab_nav = lab.cells[-1].source
    assert "../notebooks/00_welcome.ipynb" in lab_nav and "../solutions/00_welcome.ipynb" in lab_nav

    readme = (root / "README.md").read_text(encoding="utf-8")
    assert "old" not in readme and readme.endswith("after\n")
    assert "| 00 | [Welcome](notebooks/00_welcome.ipynb) | [00_welcome](labs/00_welcome.ipynb)" in (
        readme
    )
    for lesson in bc.LESSONS:  # every lesson has a row, written or not
        assert f"| {lesson.number} | " in readme
    assert "Durability *(in progress)*" in readme


def test_check_reports_a_stale_lab_and_writes_nothing(tmp_path: Path) -> None:
    root = _course(tmp_path)
    bc.build(root)

    def edit(nb: NotebookNode) -> None:
        nb.cells[1].source = nb.cells[1].source.replace('"""Doc."""', '"""Docs."""')

    _edit_source(root / "solutions" / "00_welcome.py", edit)
    before = {p: p.read_text(encoding="utf-8") for p in root.glob("*/00_welcome.ipynb")}
    assert bc.main(["--check", "--root", str(root)]) == 1
    assert {p: p.read_text(encoding="utf-8") for p in before} == before
    assert bc.main(["--root", str(root)]) == 0
    assert bc.main(["--check", "--root", str(root)]) == 0


def test_hand_edited_lab_is_stale(tmp_path: Path) -> None:
    root = _course(tmp_path)
    bc.build(root)
    lab = root / "labs" / "00_welcome.ipynb"
    lab.write_text(lab.read_text(encoding="utf-8").replace("YOUR CODE", "MY CODE"), "utf-8")
    assert bc.build(root, check=True) == [lab]


def test_unknown_notebook_and_orphan_lab_are_errors(tmp_path: Path) -> None:
    root = _course(tmp_path)
    nbformat.write(new_notebook(), root / "notebooks" / "42_mystery.ipynb")
    _write_source(root / "solutions" / "43_riddle.py", new_notebook())
    nbformat.write(new_notebook(), root / "labs" / "05_background_jobs.ipynb")
    with pytest.raises(bc.BuildError) as info:
        bc.build(root)
    assert "notebooks/42_mystery.ipynb: not in the course list" in str(info.value)
    assert "solutions/43_riddle.ipynb: not in the course list" in str(info.value)
    assert "labs/05_background_jobs.ipynb: has no solutions/" in str(info.value)


def test_a_marker_error_in_one_solution_does_not_hide_the_others(tmp_path: Path) -> None:
    root = _course(tmp_path)
    nbformat.write(
        _solution("### BEGIN SOLUTION\n"), root / "solutions" / "05_background_jobs.ipynb"
    )
    with pytest.raises(bc.BuildError, match=r"05_background_jobs\.ipynb: cell 1, line 1"):
        bc.build(root)
    assert (root / "labs" / "00_welcome.ipynb").is_file()
    assert not (root / "labs" / "05_background_jobs.ipynb").exists()


def test_hand_written_json_without_cell_ids_is_accepted(tmp_path: Path) -> None:
    root = _course(tmp_path)
    raw = {
        "cells": [{"cell_type": "markdown", "metadata": {"tags": ["nav"]}, "source": ""}],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = root / "notebooks" / "01_sync_fast_path.ipynb"
    path.write_text(json.dumps(raw), encoding="utf-8")
    bc.build(root)  # warnings are errors in this test suite
    cell = nbformat.read(path, as_version=4).cells[0]
    assert cell.id and "[Course index]" in cell.source
    assert bc.build(root, check=True) == []
    # It got its source, with the generated navigation in it too.
    assert "[Course index]" in path.with_suffix(".py").read_text(encoding="utf-8")


def test_course_map_cell_lists_every_lesson_with_minutes(tmp_path: Path) -> None:
    root = _course(tmp_path)
    path = root / "notebooks" / "00_welcome.ipynb"
    _edit_source(
        path.with_suffix(".py"),
        lambda nb: nb.cells.insert(1, new_markdown_cell("", metadata={"tags": ["course-map"]})),
    )
    bc.build(root)
    text = nbformat.read(path, as_version=4).cells[1].source
    assert bc.read_source(path.with_suffix(".py")).cells[1].source == text
    assert "| 02 | [Streaming chat](02_streaming_chat.ipynb) |" in text
    assert "| 08 | Durability | 08_durability | 20 |" in text
    assert f"**{sum(x.minutes for x in bc.LESSONS if not x.optional)}**" in text


def test_course_list_matches_the_architecture() -> None:
    architecture = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for lesson in bc.LESSONS:
        assert f"`{lesson.slug}`" in architecture
        assert f"`{lesson.lab_slug}`" in architecture or lesson.lab_slug == lesson.slug
    slugs = [lesson.slug for lesson in bc.LESSONS]
    assert slugs == sorted(slugs) and len(set(slugs)) == len(slugs)


def test_selectors_match_by_prefix() -> None:
    assert bc.select(["05_"]) == {"05_background_jobs"}
    assert bc.select(["05"]) == {"05_background_jobs", "05x_background_jobs_going_further"}
    assert bc.select(["09"]) >= {"09a_research_v1_chat_box", "09_capstone"}
    with pytest.raises(bc.BuildError, match="no lesson or lab matches '99'"):
        bc.select(["99"])


def test_binder_url_opens_the_welcome_notebook() -> None:
    url = bc.binder_url()
    assert url.startswith(f"https://mybinder.org/v2/gh/{bc.BINDER_REPO}/")
    assert url.endswith("?urlpath=lab/tree/notebooks/00_welcome.ipynb")
    assert url in (ROOT / "README.md").read_text(encoding="utf-8")


# --- sources -------------------------------------------------------------------------


def test_a_source_edit_reaches_the_notebook_keeping_ids_and_unchanged_outputs(
    tmp_path: Path,
) -> None:
    root = _course(tmp_path)
    bc.build(root)
    path = root / "solutions" / "00_welcome.ipynb"
    old = nbformat.read(path, as_version=4)

    def edit(nb: NotebookNode) -> None:
        nb.cells[0].source = "# Lab, reworded"
        nb.cells.insert(2, new_code_cell("print('new')", metadata={"tags": ["why:new"]}))

    _edit_source(path.with_suffix(".py"), edit)
    assert bc.build(root, check=True) == [path, root / "labs" / "00_welcome.ipynb"]
    bc.build(root)
    new = nbformat.read(path, as_version=4)
    assert [c.source for c in new.cells][:3] == ["# Lab, reworded", SOLUTION_CELL, "print('new')"]
    assert new.cells[2].metadata == {"tags": ["why:new"]} and new.cells[2].outputs == []
    assert new.cells[1].outputs == old.cells[1].outputs, "an unchanged cell keeps its output"
    assert [new.cells[i].id for i in (0, 1, 3)] == [c.id for c in old.cells]
    assert bc.build(root) == [], "and the new cell's id stays from one build to the next"


def test_tags_and_generated_cells_survive_the_round_trip(tmp_path: Path) -> None:
    root = _course(tmp_path)
    source = root / "solutions" / "00_welcome.py"
    _edit_source(
        source, lambda nb: nb.cells[1].metadata.update(tags=["nbval-ignore-output", "why:x"])
    )
    bc.build(root)
    text = source.read_text(encoding="utf-8")
    assert '# %% tags=["nbval-ignore-output", "why:x"]' in text
    assert '# %% [markdown] tags=["nav"]' in text and "[Course index]" in text
    nb = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    assert nb.cells[1].metadata == {"tags": ["nbval-ignore-output", "why:x"]}
    # A tag removed from the source goes from the notebook too.
    _edit_source(source, lambda nb: nb.cells[1].metadata.pop("tags"))
    bc.build(root)
    assert "tags" not in nbformat.read(source.with_suffix(".ipynb"), as_version=4).cells[1].metadata


def test_a_source_without_notebook_gets_one_without_outputs(tmp_path: Path) -> None:
    root = _course(tmp_path)
    # A module a lesson writes beside itself (%%writefile) is not a lesson source.
    (root / "solutions" / "report_jobs.py").write_text("def report_job(): ...\n", "utf-8")
    assert root / "solutions" / "report_jobs.ipynb" not in bc.build(root)
    assert not (root / "solutions" / "report_jobs.ipynb").exists()
    nb = nbformat.read(root / "notebooks" / "02_streaming_chat.ipynb", as_version=4)
    assert nb.cells[0].source == "# 02_streaming_chat"
    assert set(nb.metadata) == {"kernelspec", "language_info"}


def test_a_notebook_edited_after_its_source_stops_the_build_and_loses_nothing(
    tmp_path: Path,
) -> None:
    root = _course(tmp_path)
    bc.build(root)
    path = root / "notebooks" / "00_welcome.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source = "# edited in a notebook editor"
    nbformat.write(nb, path)
    later = path.with_suffix(".py").stat().st_mtime + 10
    os.utime(path, (later, later))
    edited = path.read_text(encoding="utf-8")
    assert bc.build(root, check=True) == [path]
    with pytest.raises(
        bc.BuildError, match=r"00_welcome\.ipynb: its cells differ .*jupytext --sync"
    ):
        bc.build(root)
    assert path.read_text(encoding="utf-8") == edited
    # Once the source is the newer file, it wins.
    os.utime(path.with_suffix(".py"), (later + 10, later + 10))
    bc.build(root)
    assert nbformat.read(path, as_version=4).cells[0].source == "# 00_welcome"


def test_jupytext_pairs_notebooks_and_solutions_as_the_build_does_and_not_labs() -> None:
    for folder in ("notebooks", "solutions"):
        config = tomllib.loads((ROOT / folder / "jupytext.toml").read_text(encoding="utf-8"))
        assert config.pop("formats") == f"ipynb,{bc.SOURCE_FORMAT}"
        assert config == bc.SOURCE_FILTERS
    for path in (ROOT / "labs", ROOT):
        assert not (path / "jupytext.toml").exists()
    assert "jupytext" not in tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]
    assert not list((ROOT / "labs").glob(bc.SOURCE_GLOB)), "labs are generated, without sources"


def test_every_notebook_of_the_course_converts_back_to_exactly_its_source() -> None:
    """What JupyterLab's jupytext checks before it opens a notebook newer than its source."""
    for folder in ("notebooks", "solutions"):
        notebooks = sorted((ROOT / folder).glob("*.ipynb"))
        assert [p.stem for p in notebooks] == sorted(
            p.stem for p in (ROOT / folder).glob(bc.SOURCE_GLOB)
        )
        for path in notebooks:
            source = path.with_suffix(".py").read_text(encoding="utf-8")
            assert bc.source_text(nbformat.read(path, as_version=4)) == source, path.name


def test_blank_lines_after_a_cell_follow_the_source(tmp_path: Path) -> None:
    root = _course(tmp_path)
    bc.build(root)
    source = root / "solutions" / "00_welcome.py"
    text = source.read_text(encoding="utf-8")
    # Two blank lines before a `def`, as ruff format writes them after a markdown cell.
    before_def = "\n\n# %%\ndef ttft"
    assert before_def in text
    source.write_text(text.replace(before_def, "\n" + before_def), encoding="utf-8")
    bc.build(root)
    nb = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    assert nb.cells[0].metadata.get(bc.SPACING) == 2
    assert bc.source_text(nb) == source.read_text(encoding="utf-8")
    lab = nbformat.read(root / "labs" / "00_welcome.ipynb", as_version=4)
    assert bc.SPACING not in lab.cells[0].metadata
    source.write_text(text, encoding="utf-8")
    bc.build(root)
    nb = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    assert bc.SPACING not in nb.cells[0].metadata


# --- execution -------------------------------------------------------------------------


@pytest.mark.slow
def test_execute_runs_offline_in_the_notebook_folder_and_normalizes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _course(tmp_path)
    monkeypatch.setenv("STREAM_OR_QUEUE_MODE", "live")
    path = root / "notebooks" / "00_welcome.ipynb"

    def edit(nb: NotebookNode) -> None:
        nb.cells[1:1] = [
            new_code_cell("import os, pathlib\nprint(pathlib.Path.cwd().name)"),
            new_code_cell("print(os.environ.get('STREAM_OR_QUEUE_MODE', 'unset'))"),
        ]

    _edit_source(path.with_suffix(".py"), edit)
    assert bc.main(["--execute", "00", "--root", str(root)]) == 0
    done = nbformat.read(path, as_version=4)
    assert [c.execution_count for c in done.cells if c.cell_type == "code"] == [1, 2]
    assert done.cells[1].outputs[0]["text"] == "notebooks\n"
    assert done.cells[2].outputs[0]["text"] == "unset\n"
    assert all("execution" not in c.metadata for c in done.cells)
    assert bc.build(root, check=True) == []


@pytest.mark.slow
def test_a_failing_notebook_is_not_written(tmp_path: Path) -> None:
    root = _course(tmp_path)
    path = root / "notebooks" / "02_streaming_chat.ipynb"
    bc.build(root)
    before = path.read_text(encoding="utf-8")
    _edit_source(
        path.with_suffix(".py"),
        lambda nb: nb.cells.insert(1, new_code_cell("raise RuntimeError('boom')")),
    )
    assert bc.main(["--execute", "02", "--root", str(root)]) == 1
    # The build after the failed run brings the new cell in, without outputs.
    after = nbformat.read(path, as_version=4)
    assert after.cells[1].outputs == [] and after.cells[1].execution_count is None
    assert path.read_text(encoding="utf-8") != before


def test_a_quick_check_shows_its_quiz_file_without_a_run(tmp_path: Path) -> None:
    from stream_or_queue.widgets.quiz import DEFAULT_LEARNER, Quiz

    root = _course(tmp_path)
    quiz_cell = 'from stream_or_queue.widgets import Quiz\n\nQuiz.for_notebook("00_welcome")'
    lesson = new_notebook(cells=[new_markdown_cell("# 00"), new_code_cell(quiz_cell), _nav()])
    _write_source(root / "notebooks" / "00_welcome.py", lesson)
    ran = new_notebook(cells=[c.copy() for c in lesson.cells])
    ran.cells[1].execution_count = 3
    ran.cells[1].outputs = [
        new_output("execute_result", data={"text/plain": "an old quiz"}, execution_count=3)
    ]
    nbformat.write(ran, root / "notebooks" / "00_welcome.ipynb")
    path = root / "notebooks" / "00_welcome.ipynb"
    assert path in bc.build(root, check=True), "a stale quick check is reported"
    bc.build(root)
    shown = nbformat.read(path, as_version=4).cells[1].outputs[0]["data"]["text/plain"]
    assert shown == repr(Quiz.for_notebook("00_welcome", learner_seed=DEFAULT_LEARNER))
    assert path not in bc.build(root, check=True)


def test_a_prediction_asked_early_shows_only_its_question() -> None:
    from stream_or_queue.widgets.quiz import DEFAULT_LEARNER, Quiz

    source = 'Quiz.for_notebook("00_welcome", only=["empty-screen-share"])'
    cell = new_code_cell(source, execution_count=1)
    cell.outputs = [new_output("execute_result", data={"text/plain": "old"}, execution_count=1)]
    nb = bc.refresh_quiz_outputs(new_notebook(cells=[cell]))
    expected = Quiz.for_notebook(
        "00_welcome", only=["empty-screen-share"], learner_seed=DEFAULT_LEARNER
    )
    assert nb.cells[0].outputs[0]["data"]["text/plain"] == repr(expected)
    assert "1 question " in repr(expected)
