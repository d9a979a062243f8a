"""labs.progress: a failed check explains, then hints, and gives the answer only on request."""

from __future__ import annotations

import pytest

from stream_or_queue.labs import CheckFailed, expect, passed
from stream_or_queue.labs.progress import Help, LabProgress


def _lab() -> LabProgress:
    lab = LabProgress("lab99", {"double": Help(hint="look at the factor", answer="return 2 * x")})
    return lab


def _checked(lab: LabProgress):  # type: ignore[no-untyped-def]
    def check_double(double):  # type: ignore[no-untyped-def]
        got = double(3)
        expect(got == 6, f"double(3) returned {got!r}, expected 6: twice the input.")
        passed("double() doubles")

    return lab.check(check_double)


def test_first_failure_explains_second_hints_answer_only_on_request(
    capsys: pytest.CaptureFixture[str],
) -> None:
    lab = _lab()
    check = _checked(lab)
    with pytest.raises(CheckFailed) as first:
        check(lambda x: x + 2)
    assert "returned 5, expected 6" in str(first.value)
    assert "Hint" not in str(first.value) and "2 * x" not in str(first.value)
    with pytest.raises(CheckFailed) as second:
        check(lambda x: x + 2)
    assert "Hint: look at the factor" in str(second.value)
    assert "lab99.hint('double')" in str(second.value)
    assert "2 * x" not in str(second.value)
    lab.hint("double")
    assert "return 2 * x" in capsys.readouterr().out


def test_report_lists_every_check_with_its_state(capsys: pytest.CaptureFixture[str]) -> None:
    lab = _lab()
    check = _checked(lab)
    lab.report()
    assert "double  not run yet" in capsys.readouterr().out
    with pytest.raises(CheckFailed):
        check(lambda x: x)
    lab.report()
    assert "fails (1 try)" in capsys.readouterr().out
    check(lambda x: 2 * x)
    lab.report()
    out = capsys.readouterr().out
    assert "double  \N{CHECK MARK} passes" in out and "1 of 1 checks pass" in out


def test_demonstrate_shows_a_failure_without_counting_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    lab = _lab()
    check = _checked(lab)
    lab.demonstrate("double", lambda x: x)
    assert "check_double fails it: double(3) returned 3" in capsys.readouterr().out
    assert lab.failures["double"] == 0 and "double" not in lab.results
    with pytest.raises(CheckFailed) as first:
        check(lambda x: x)
    assert "Hint" not in str(first.value), "the demonstration did not use up the first try"


def test_unknown_names_are_clear_errors() -> None:
    lab = _lab()
    _checked(lab)
    with pytest.raises(ValueError, match="no check named 'tripel'; its checks: 'double'"):
        lab.hint("tripel")

    def check_undocumented(x):  # type: ignore[no-untyped-def]
        return x

    with pytest.raises(ValueError, match="has no Help entry"):
        lab.check(check_undocumented)


@pytest.mark.anyio
async def test_an_async_check_is_wrapped_the_same_way() -> None:
    lab = LabProgress("lab99", {"double": Help(hint="look at the factor", answer="return 2 * x")})

    async def check_double(double):  # type: ignore[no-untyped-def]
        expect(double(3) == 6, "double(3) is not 6")

    check = lab.check(check_double)
    with pytest.raises(CheckFailed):
        await check(lambda x: x)
    with pytest.raises(CheckFailed, match="Hint: look at the factor"):
        await check(lambda x: x)
    await check(lambda x: 2 * x)
    assert lab.results == {"double": True} and lab.failures["double"] == 2
