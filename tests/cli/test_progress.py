"""The progress line: drawn on a terminal only, never in CI, a pipe or with --quiet."""

from __future__ import annotations

import argparse
import io

from mm.cli.progress import Progress, add_quiet_flag, progress_enabled


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_drawn_on_a_tty_and_erased_on_close() -> None:
    s = Tty()
    p = Progress("train", total=4, stream=s, env={})
    p.update(note="fitting BTC", force=True)
    p.advance(note="BTC done")
    text = s.getvalue()
    assert "\rtrain" in text and "fitting BTC" in text and "1/4" in text
    assert "\x1b[36m[#####" in text  # the bar, coloured
    p.close()
    assert s.getvalue().endswith("\r") and not p.enabled
    n = len(s.getvalue())
    p.advance()
    assert len(s.getvalue()) == n  # nothing after close


def test_no_color_keeps_the_line_without_escapes() -> None:
    s = Tty()
    p = Progress("replay", total=2, stream=s, env={"NO_COLOR": "1"})
    p.advance(note="real done")
    assert "[##########..........] 1/2 real done" in s.getvalue() and "\x1b" not in s.getvalue()


def test_silent_in_ci_in_a_pipe_with_quiet_and_on_a_dumb_terminal() -> None:
    for env, quiet, stream in (({"CI": "true"}, False, Tty()), ({"CI": "1"}, False, Tty()), ({}, True, Tty()),
                               ({"TERM": "dumb"}, False, Tty()), ({}, False, io.StringIO())):
        p = Progress("x", total=3, stream=stream, env=env, quiet=quiet)
        p.update(note="a", force=True)
        p.advance()
        p.clear()
        p.close()
        assert stream.getvalue() == "", (env, quiet)
        assert not progress_enabled(stream, quiet, env)
    assert progress_enabled(Tty(), False, {"CI": "false"})


def test_unknown_total_shows_count_and_elapsed() -> None:
    p = Progress("sweep", stream=Tty(), env={})
    p.update(done=7, note="trial 7")
    line = p.line()
    assert line.startswith("sweep 7 trial 7") and line.endswith(" s") and "[" not in line


def test_clear_then_redraw() -> None:
    s = Tty()
    p = Progress("chaos", total=2, stream=s, env={})
    p.update(note="scenario a", force=True)
    p.clear()
    assert s.getvalue().endswith("\r")
    p.update(note="scenario b", force=True)
    assert s.getvalue().endswith("scenario b  0 s") or "scenario b" in s.getvalue().rsplit("\r", 1)[-1]


def test_quiet_flag() -> None:
    ap = argparse.ArgumentParser()
    add_quiet_flag(ap)
    assert ap.parse_args(["--quiet"]).quiet and ap.parse_args(["-q"]).quiet and not ap.parse_args([]).quiet
