"""HTML building blocks of the sweep report: escaping, tables, figures, the page shell.

Every string that comes from data passes through `esc` (run ids, errors, LLM prompts and
answers — LLM text is untrusted), and the page forbids scripts and remote loads outright
with a Content-Security-Policy: it needs no JavaScript (``<details>`` opens the audit
excerpts) and nothing from the network (figures are ``data:`` URIs).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence
from typing import Any

from matplotlib.figure import Figure

from sweep.plots.style import figure_bytes

EXCERPT_CHARS = 2_000  # one text of the LLM audit (a message, an answer) is cut here
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d1d1f;
       margin: 0 auto; max-width: 1180px; padding: 1rem 1.5rem 4rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { border-bottom: 2px solid #ddd; margin-top: 2.5rem; }
h3 { margin-top: 2rem; } h4 { margin: 1.2rem 0 .4rem; }
.muted { color: #666; } .ok { color: #1a7f37; } .bad { color: #c62828; } .grey { color: #777; }
pre { background: #f6f8fa; border: 1px solid #e1e4e8; border-radius: 4px; padding: .6rem .8rem;
      overflow-x: auto; white-space: pre; font-size: 12px; }
pre.wrap { white-space: pre-wrap; word-break: break-word; }
table { border-collapse: collapse; margin: .4rem 0 1rem; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f0f3f6; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: .8rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 12px; }
details { margin: .3rem 0; } summary { cursor: pointer; }
details.audit > div { margin-left: 1rem; }
nav ul { columns: 2; font-size: 13px; } section.run { border-top: 1px solid #eee; }
"""


def esc(value: Any) -> str:
    """``value`` as text safe inside HTML elements and quoted attributes (None → "—")."""
    return "—" if value is None else html.escape(str(value), quote=True)


def anchor(kind: str, name: str) -> str:
    """An id attribute value: ``run-<run id>`` (ids are letters, digits, ``_.-``; escaped anyway)."""
    return esc(f"{kind}-{name}")


def excerpt(text: str | None, limit: int = EXCERPT_CHARS) -> str:
    """``text`` cut at ``limit`` characters with a note of how much was left out (escaped)."""
    if text is None:
        return "—"
    if len(text) <= limit:
        return esc(text)
    return (
        esc(text[:limit]) + f'\n<span class="muted">… {len(text) - limit:,} more characters '
        f"(the whole text is in the llm_calls table)</span>"
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[int] = ()) -> str:
    """A table; cells are escaped text unless given as `Raw`; columns ``numeric`` right-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for k, cell in enumerate(row):
            cls = ' class="num"' if k in numeric else ""
            cells.append(f"<td{cls}>{cell.html if isinstance(cell, Raw) else esc(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class Raw:
    """Markup built here (already escaped) to put in a `table` cell as it is."""

    def __init__(self, markup: str) -> None:
        self.html = markup


def figure(fig: Figure, caption: str) -> str:
    """``fig`` as an embedded PNG (a ``data:`` URI: the page works from disk, offline)."""
    data = base64.b64encode(figure_bytes(fig, "png")).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{esc(caption)}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def page(title: str, body: str) -> str:
    """The whole document: no script, no external resource, UTF-8."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
