"""``report.html``: self-contained, escaped, one section per run, and clean in a real browser.

The fixture sweeps' LLM answers open with hostile markup (`HOSTILE`: a script, a closing
``</pre>``, an image with an ``onerror``); the report must show it as text. The page has no
script element and loads nothing but ``data:`` URIs. The slow test opens it in headless
Chromium (Debian's ``chromium``, installed with apt-get when missing; skipped with the reason
when that is impossible), saves a screenshot and requires no console message at all — the
page runs no script, so any message is the browser reporting a problem (a blocked load, a
CSP violation); a control page proves such problems do reach the log.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sweep.report import MAX_AUDIT_CALLS, build_report
from sweep.report_html import EXCERPT_CHARS, excerpt
from sweep.store import open_store
from tests.sweep.plots.conftest import HOSTILE, MIXED, PLAIN

SCREENSHOT_DIR = Path(os.environ.get("PAYLAB_SCREENSHOT_DIR", "/tmp"))


@pytest.fixture(scope="module")
def mixed_report(mixed_out: Path) -> str:
    return build_report(open_store(str(mixed_out)), str(mixed_out), MIXED, ["scenario", "model"])


def test_llm_text_is_escaped_and_the_page_has_no_script(mixed_report: str) -> None:
    assert HOSTILE not in mixed_report and "<script" not in mixed_report.lower()
    assert "<img src=x" not in mixed_report and "</script>" not in mixed_report  # only escaped
    assert html.escape(HOSTILE, quote=True) in mixed_report
    assert 'http-equiv="Content-Security-Policy"' in mixed_report


def test_everything_is_embedded(mixed_report: str) -> None:
    sources = re.findall(r'(?:src|href)="([^"]*)"', mixed_report)
    assert sources and all(s.startswith(("data:", "#")) for s in sources), {
        s for s in sources if not s.startswith(("data:", "#"))
    }
    assert len(re.findall(r'<img src="data:image/png;base64,', mixed_report)) >= 4


def test_one_section_per_run_with_decisions_and_audit(mixed_out: Path, mixed_report: str) -> None:
    store = open_store(str(mixed_out))
    runs = store.read("runs", sweep=MIXED).to_pylist()
    calls = store.read("llm_calls", sweep=MIXED).to_pylist()
    proposals = store.read("proposals", sweep=MIXED).to_pylist()
    for run in runs:
        assert mixed_report.count(f'id="run-{run["run_id"]}"') == 1
        assert mixed_report.count(f'href="#run-{run["run_id"]}"') == 1
    for run in (r for r in runs if r["status"] == "failed"):
        assert html.escape(run["error"].splitlines()[0], quote=True) in mixed_report
    audits = re.findall(r"LLM audit \((\d+) calls\)", mixed_report)
    assert sum(int(n) for n in audits) == len(calls) > 0
    assert mixed_report.count('<tr><td class="num">') >= len(proposals)  # one decision row each
    assert "vs baseline" in mixed_report and "accepted" in mixed_report


def test_a_sweep_without_llm_calls(plain_out: Path) -> None:
    page = build_report(open_store(str(plain_out)), str(plain_out), PLAIN, ["scenario", "model"])
    assert "No LLM calls in this sweep." in page and "LLM audit" not in page


def test_excerpts_are_cut_and_say_so() -> None:
    long = "<b>" * EXCERPT_CHARS
    cut = excerpt(long)
    assert "<b>" not in cut.split("<span")[0] and f"{3 * EXCERPT_CHARS - EXCERPT_CHARS:,} more characters" in cut
    assert excerpt("short & sweet") == "short &amp; sweet" and excerpt(None) == "—"
    assert MAX_AUDIT_CALLS >= 1


# ---------------------------------------------------------------------------- the browser
BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
    "--window-size=1280,2400",
]


def _chromium() -> str:
    """The chromium executable, installed with apt-get if missing; skips with the reason."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("chromium is not installed and apt-get cannot install it here (needs root and apt)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock = ["-o", "DPkg::Lock::Timeout=300"]
    for step in (["apt-get", *lock, "update"], ["apt-get", *lock, "install", "-y", "chromium"]):
        done = subprocess.run(step, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.skip(
                f"cannot install chromium: {' '.join(step)} exited {done.returncode}: {done.stderr.strip()[-300:]}"
            )
    return shutil.which("chromium") or pytest.skip("apt-get installed chromium but it is not on PATH")


def _open(browser: str, page: Path, shot: Path, profile: Path) -> list[str]:
    """Load ``page`` headless, save a screenshot; returns the console lines of the log."""
    done = subprocess.run(
        [browser, *BROWSER_FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return [line for line in done.stderr.splitlines() if ":CONSOLE" in line]


@pytest.mark.slow
def test_the_report_opens_cleanly_in_chromium(mixed_out: Path, tmp_path: Path) -> None:
    from matplotlib.image import imread

    browser = _chromium()
    page = tmp_path / "report.html"
    page.write_text(build_report(open_store(str(mixed_out)), str(mixed_out), MIXED, ["scenario", "model"]))
    control = tmp_path / "control.html"  # the log does show what a bad page does
    control.write_text(page.read_text().replace("</body>", '<img src="https://example.invalid/x.png"></body>'))
    assert _open(browser, control, tmp_path / "control.png", tmp_path / "profile-control")

    shot = SCREENSHOT_DIR / "paylab-report-screenshot.png"
    console = _open(browser, page, shot, tmp_path / "profile")
    assert console == [], console
    pixels = imread(str(shot))[..., :3]
    assert pixels.shape[:2] == (2400, 1280) and pixels.std() > 0.05
