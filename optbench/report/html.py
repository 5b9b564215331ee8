"""Self-contained HTML: escaped tables, inline CSS, images embedded as data URIs."""

from __future__ import annotations

import html
import math
from collections.abc import Collection, Iterable, Mapping, Sequence

# Laid out for pages from about 1,000 px wide: names wrap at their underscores, numbers never
# wrap, and a table still too wide scrolls inside its own box instead of widening the page.
_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1250px; padding: 0 1em;
       color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
.table { overflow-x: auto; max-width: 100%; margin: 0.5em 0; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; vertical-align: bottom; white-space: normal; max-width: 9em; }
td.name, th.name { text-align: left; white-space: normal; min-width: 7em; max-width: 24em;
                   overflow-wrap: break-word; }
.note { color: #555; font-size: 0.9em; } img { max-width: 100%; }
.never { color: #b00; } .missing { color: #999; }
"""


def escape(value: object) -> str:
    """HTML-escaped text of ``value``."""
    return html.escape(str(value), quote=True)


def breakable(value: object) -> str:
    """Escaped text that may wrap after each underscore (long submission and workload names)."""
    return escape(value).replace("_", "_<wbr>")


def seconds_cell(value: float) -> str:
    """A time cell: seconds (tenths below 1,000 s, whole seconds above, to keep columns
    narrow), a red 'never' for infinity, a grey dash for not run."""
    value = float(value)
    if math.isnan(value):
        return '<td class="missing">-</td>'
    if math.isinf(value):
        return '<td class="never">never</td>'
    return f"<td>{value:,.{0 if value >= 1000 else 1}f}</td>"


def table(
    header: Sequence[str], rows: Iterable[Sequence[str]], text_columns: Collection[int] = (0,)
) -> str:
    """A table from header labels (escaped here) and rows of ready ``<td>`` cells; the header
    cells of ``text_columns`` are left-aligned, as :func:`text_cell` aligns ``name`` cells."""
    head = "".join(
        f'<th class="name">{breakable(h)}</th>' if i in text_columns else f"<th>{breakable(h)}</th>"
        for i, h in enumerate(header)
    )
    body = "".join(f"<tr>{''.join(row)}</tr>" for row in rows)
    return (
        f'<div class="table"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
        "</table></div>"
    )


def records_table(records: Iterable[Mapping[str, object]], header: Sequence[str], text: set) -> str:
    """A table of ``records`` (dicts) in the columns ``header``; those in ``text`` are text."""
    rows = [[text_cell(r[h], name=h in text) for h in header] for r in records]
    return table(header, rows, [i for i, h in enumerate(header) if h in text])


def text_cell(value: object, name: bool = False) -> str:
    """A plain escaped cell (left-aligned when ``name``)."""
    if name:
        return f'<td class="name">{breakable(value)}</td>'
    return f"<td>{escape(value)}</td>"


def image(png_base64: str, alt: str) -> str:
    """An ``<img>`` with the PNG inline as a data URI."""
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{png_base64}">'


def page(title: str, sections: Iterable[str]) -> str:
    """The whole document."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><h1>{escape(title)}</h1>{''.join(sections)}</body></html>\n"
    )
