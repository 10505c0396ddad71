"""HTML blocks the dashboard draws with its ``card_view`` component: example grids, neuron chips, headings,
figures, tables, share links and ranked results. Every text is escaped here; the blocks are then trusted.

Also the escape for the other way text reaches the page: Streamlit renders markdown in alerts, ``st.markdown``,
captions, metric values, image captions, radio options and help tooltips. Any text not written by us (a URL value,
a folder or label name, an exception's message, a class name typed by a visitor) goes through ``md_escape`` (or
``md_code`` inside a code span) before it is put into such a string.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from core.analyses.tiles import Grid

_MD_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character: CommonMark escapes each one
# GFM's autolink literals (``http://x``, ``www.x``, ``a@b.c``) are found in the text *after* escapes are resolved:
# an invisible word joiner before ``:`` and ``@`` and inside ``www.`` keeps them from matching.
_AUTOLINK = re.compile(r"(?=[:@])|(?<=www)(?=\.)", re.IGNORECASE)


def md_escape(text: object) -> str:
    """``text`` as literal text inside Streamlit markdown: every ASCII punctuation character backslash-escaped (links
    ``[x](u)``, images ``![x](u)``, autolinks ``<u>`` and ``http://u``, HTML, emphasis, code, headings, tables,
    ``$`` maths, ``:color[x]`` directives, entities) and line breaks and other control characters turned into
    spaces (no new block can start); a word joiner (U+2060, invisible) before ``:`` and ``@`` and after ``www``
    stops GFM's bare-URL and e-mail links. Shown, the text reads as given."""
    flat = "".join(ch if ch.isprintable() else " " for ch in str(text))
    return _MD_PUNCT.sub(r"\\\1", _AUTOLINK.sub("\u2060", flat))


def md_code(text: object) -> str:
    """``text`` as an inline code span (its content is never parsed as markdown): fenced with one more backtick
    than its longest run of backticks, control characters turned into spaces."""
    flat = "".join(ch if ch.isprintable() else " " for ch in str(text))
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") or not flat.strip() else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def grid_html(g: Grid) -> str:
    """One HTML block for a whole grid (inline JPEG data URIs with captions): a neuron switch re-renders one
    element per grid instead of one per tile, and the browser fetches nothing."""
    import base64
    import html

    titles = g.titles or ("",) * len(g.tiles)  # hover text: e.g. the raw value beside a caption in std-devs
    cells = "".join(
        f'<figure style="margin:0;width:{g.width}px"{f" title={chr(34)}{html.escape(h)}{chr(34)}" if h else ""}>'
        f'<img alt="{html.escape(c)}" width="{g.width}" '
        f'height="{g.width}" src="data:image/jpeg;base64,{base64.b64encode(t).decode()}"/>'
        f'<figcaption style="font-size:0.8rem;text-align:center;opacity:0.7">{html.escape(c)}</figcaption></figure>'
        for t, c, h in zip(g.tiles, g.captions, titles))
    return f'<div data-grid style="display:flex;flex-wrap:wrap;gap:8px;margin-bottom:0.75rem">{cells}</div>'


def chips_html(label: str, detail: str, units, scores, score_name: str) -> str:
    """A labelled row of neuron chips (``<button data-unit>``; the dashboard opens the unit on a click).

    ``label`` is shown bold, ``detail`` after it; each chip reads "unit (score)".
    """
    import html

    chips = "".join(f'<button class="chip" data-unit="{int(u)}" title="Open unit {int(u)} ({score_name} {v:.3f})">'
                    f'{int(u)} ({v:.2f})</button>' for u, v in zip(units, scores))
    return (f'<p class="chips-label"><b>{html.escape(label)}</b> {html.escape(detail)}</p>'
            f'<div class="chips" data-chips="{html.escape(score_name)}">{chips}</div>')


def tagged(unit: int, html: str) -> str:
    """``html`` wrapped in an element naming the unit it shows (``data-card-unit``): tests and the browser
    benchmark read it to tell that a block shows the new neuron."""
    return f'<div data-card-unit="{int(unit)}">{html}</div>'


def sections_html(sections) -> str:
    """Headed grids as one HTML block: ``sections`` = (heading, note or None, Grid) triples. Headings and
    notes ride in the same element as their grid, so a neuron switch re-sends and re-renders fewer elements."""
    return "".join(heading_html(heading, note)
                   + (grid_html(g) if g.tiles else '<p style="font-size:0.875rem;opacity:0.6">No examples.</p>')
                   for heading, note, g in sections)


def heading_html(heading: str, note: str | None = None) -> str:
    """A section heading and its grey note, styled like the app's subheaders and captions."""
    import html

    out = f'<h3 style="margin:0.6rem 0 0.2rem 0;padding:0">{html.escape(heading)}</h3>'
    if note:
        out += f'<p style="font-size:0.875rem;opacity:0.6;margin:0 0 0.5rem 0">{html.escape(note)}</p>'
    return out


def figures_html(figures, width: int = 160) -> str:
    """Pictures with captions in a row: ``figures`` = (caption, PNG bytes or None, detail) triples; a None picture
    shows "not rendered yet" in its place."""
    import base64
    import html

    cells = []
    for caption, png, detail in figures:
        if png is None:
            body = (f'<div data-missing style="width:{width}px;height:{width}px;display:flex;align-items:center;'
                    f'justify-content:center;border:1px dashed rgba(128,128,128,0.5);font-size:0.8rem;opacity:0.7">'
                    f'not rendered yet</div>')
        else:
            body = (f'<img alt="{html.escape(caption)}" width="{width}" height="{width}" '
                    f'src="data:image/png;base64,{base64.b64encode(png).decode()}"/>')
        # one line each, cut with an ellipsis at the picture's width (a long objective string overprinted its
        # neighbours); the full text on hover
        line = f"display:block;max-width:{width}px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap"
        cells.append(f'<figure style="margin:0;width:{width}px;min-width:0">{body}<figcaption style="font-size:0.8rem;'
                     f'opacity:0.7"><span data-caption style="{line}" title="{html.escape(caption)}">'
                     f'{html.escape(caption)}</span><code data-objective style="{line}" title="{html.escape(detail)}">'
                     f'{html.escape(detail)}</code></figcaption></figure>')
    return f'<div data-figures style="display:flex;flex-wrap:wrap;gap:12px">{"".join(cells)}</div>'


def table_html(df: pd.DataFrame, title: str, *, floats: str = "{:.3f}") -> str:
    """A small titled table (every cell escaped; floats formatted with ``floats``)."""
    import html

    def cell(v) -> str:
        return html.escape(floats.format(v) if isinstance(v, (float, np.floating)) else str(v))

    head = "".join(f'<th style="text-align:left;padding:2px 8px">{html.escape(str(c))}</th>' for c in df.columns)
    body = "".join("<tr>" + "".join(f'<td style="padding:2px 8px">{cell(v)}</td>' for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    return (f'<table data-table="{html.escape(title)}" style="border-collapse:collapse;font-size:0.85rem">'
            f'<caption style="text-align:left;font-weight:600;padding:2px 8px">{html.escape(title)}</caption>'
            f'<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')


def share_html(url: str, label: str = "Share this view") -> str:
    """A share link: the URL (selectable text, escaped) and a copy button (``card_view.js`` copies the text of
    the ``data-share`` element when a ``data-copy`` button is pressed)."""
    import html

    return (f'<div class="share"><p class="share-label">{html.escape(label)}</p><div class="share-box">'
            f'<code data-share>{html.escape(url)}</code>'
            '<button type="button" class="copy" data-copy title="Copy the link">Copy</button></div></div>')


def results_html(results, score_name: str) -> str:
    """Ranked neurons as one block: per (unit, score, href, grid or None, in_app) a head line (unit, score and an
    "Open card" link to ``href``) and the unit's top dataset examples (``grid_html``). With ``in_app`` the link
    also carries ``data-unit``: ``card_view.js`` then opens the card inside the app on a plain click, while
    ``href`` still serves a new tab or a copied link."""
    import html

    out = []
    for unit, value, href, g, in_app in results:
        attr = f' data-unit="{int(unit)}"' if in_app else ""
        out.append(f'<div class="result" data-result="{int(unit)}"><p class="result-head"><b>Unit {int(unit)}</b> · '
                   f'{html.escape(score_name)} {float(value):.3f} <a class="open" href="{html.escape(href)}"{attr}>'
                   'Open card</a></p>' + (grid_html(g) if g is not None else "") + '</div>')
    return "".join(out)


def units_table_html(df: pd.DataFrame) -> str:
    """The article's units as one scrolling table: unit, name, where cited, facet, top rastered words, a link to the
    unit's card (``card``: its address; ``data-unit`` opens it inside the app on a plain click) and to the article
    (``link``). Every text is escaped."""
    import html

    cols = [("unit", "unit"), ("label", "label"), ("cited", "cited"), ("facet", "facet"),
            ("top_words", "top rastered words")]
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title in cols) + "<th>card</th><th>article</th>"
    rows = []
    for r in df.to_dict(orient="records"):
        cells = "".join(f"<td>{html.escape(str(r[c]))}</td>" for c, _ in cols)
        card = (f'<a class="open" href="{html.escape(r["card"])}" data-unit="{int(r["unit"])}">open card</a>'
                if r.get("card") else "")
        article = (f'<a href="{html.escape(r["link"])}" target="_blank" rel="noopener">in the article</a>'
                   if r.get("link") else "")
        rows.append(f'<tr data-row="{int(r["unit"])}">{cells}<td>{card}</td><td>{article}</td></tr>')
    return (f'<div class="units-table" style="max-height:560px;overflow:auto"><table data-table="article units">'
            f'<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


def pictures_html(pictures, width: int = 256) -> str:
    """Pictures (PIL images) side by side, each with its caption (escaped) below: ``pictures`` = (caption, image)
    pairs. PNG data inside the block, so a page shows them without loading an image element's code."""
    import base64
    import html
    import io

    cells = []
    for caption, image in pictures:
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        ratio = image.height / max(1, image.width)
        cells.append(f'<figure style="margin:0;width:{width}px"><img data-picture alt="{html.escape(caption)}" '
                     f'width="{width}" height="{round(width * ratio)}" '
                     f'src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}"/>'
                     f'<figcaption style="font-size:0.85rem;opacity:0.75">{html.escape(caption)}</figcaption></figure>')
    return f'<div data-pictures style="display:flex;flex-wrap:wrap;gap:16px">{"".join(cells)}</div>'
