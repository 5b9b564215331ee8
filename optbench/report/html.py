"""Self-contained HTML: escaped tables, inline CSS, images embedded as data URIs."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1400px; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: right; }
th { background: #f3f3f3; } td.name, th.name { text-align: left; }
.note { color: #555; font-size: 0.9em; } img { max-width: 100%; }
.never { color: #b00; } .missing { color: #999; }
"""


def escape(value: object) -> str:
    """HTML-escaped text of ``value``."""
    return html.escape(str(value), quote=True)


def seconds_cell(value: float) -> str:
    """A time cell: seconds, a red 'never' for infinity, a grey dash for not run."""
    if value is None or math.isnan(value):
        return '<td class="missing">-</td>'
    if math.isinf(value):
        return '<td class="never">never</td>'
    return f"<td>{value:,.1f}</td>"


def table(header: Sequence[str], rows: Iterable[Sequence[str]], name_columns: int = 1) -> str:
    """A table from escaped header labels and rows of ready ``<td>`` cells."""
    head = "".join(
        f'<th class="name">{escape(h)}</th>' if i < name_columns else f"<th>{escape(h)}</th>"
        for i, h in enumerate(header)
    )
    body = "".join(f"<tr>{''.join(row)}</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def text_cell(value: object, name: bool = False) -> str:
    """A plain escaped cell (left-aligned when ``name``)."""
    cls = ' class="name"' if name else ""
    return f"<td{cls}>{escape(value)}</td>"


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
