"""Which version a research run plays: the caller's, else
`$STREAM_OR_QUEUE_RESEARCH_VERSION`, else v2."""

from __future__ import annotations

import pytest

from stream_or_queue.research.versions import VERSION_ENV, check_version, default_version


def test_the_default_version_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VERSION_ENV, raising=False)
    assert default_version() == "v2"
    monkeypatch.setenv(VERSION_ENV, " V3 ")
    assert default_version() == "v3"


def test_an_unknown_version_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VERSION_ENV, "v9")
    with pytest.raises(ValueError, match=VERSION_ENV):
        default_version()
    with pytest.raises(ValueError, match="'v2' or 'v3'"):
        check_version("v1")
    assert check_version("v3") == "v3"
