"""Everything a neuron card shows from an indexed collection, built in one call (``build_card``).

One call per (artifact, unit) instead of one per grid keeps a neuron switch to a single cache lookup, and
lets the dashboard build the cards a person will likely open next in the background (``core.prefetch``).
The analyses are ``core.neuron_card``'s; this module picks the rows, renders the tiles and captions them.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core import neuron_card
from core.images import open_image


@dataclass(frozen=True)
class Grid:
    """Dataset-example tiles: the rows shown, their JPEG bytes, and one caption per tile."""

    rows: tuple[int, ...]
    tiles: tuple[bytes, ...]
    captions: tuple[str, ...]
    width: int


@dataclass(frozen=True)
class CardData:
    """The collection part of a neuron card: top, most negative and across-the-range examples, histogram."""

    unit: int
    top: Grid
    bottom: Grid
    across: Grid
    histogram: pd.DataFrame
    similar: pd.DataFrame  # units whose activations over the collection correlate most (unit, correlation)


def examples_frame(art, unit: int, k: int, bottom: bool = False) -> pd.DataFrame:
    """Top (or most negative) examples of ``unit``: row, key, label, value, argmax."""
    rows = [int(r) for r in (art.bottom_rows(unit, k) if bottom else art.top_rows(unit, k))]
    return rows_frame(art, rows, unit)


def rows_frame(art, rows: list[int], unit: int) -> pd.DataFrame:
    """row, key, label, value (the unit's spatial max) and argmax of the given rows."""
    idx = np.asarray(rows, dtype=np.int64)
    labels = art.labels
    return pd.DataFrame({"row": idx, "key": [art.keys[r] for r in rows],
                         "label": [labels[r] for r in rows] if labels is not None else [""] * len(rows),
                         "value": np.asarray(art.max[idx, unit], dtype=np.float32) if rows else [],
                         "argmax": np.asarray(art.argmax[idx, unit], dtype=np.int64) if rows else []})


def unit_values(art, unit: int) -> np.ndarray:
    """(N,) one unit's per-image spatial max (pre-ReLU) over the collection, float32."""
    return np.asarray(art.max[:, unit], dtype=np.float32)


def bucket_frame(art, unit: int, buckets: int, per_bucket: int) -> pd.DataFrame:
    """Samples across the activation range by std-dev bucket, with key/label/argmax for display."""
    df = neuron_card.std_bucket_samples(unit_values(art, unit), buckets=buckets, per_bucket=per_bucket,
                                        std=float(art.unit_std[unit]))
    extra = rows_frame(art, df["row"].astype(int).tolist(), unit)
    return df.assign(key=extra["key"].to_numpy(), label=extra["label"].to_numpy(), argmax=extra["argmax"].to_numpy())


def render_tiles(art, rows, argmax, size: int = neuron_card.TILE_PX) -> list[bytes]:
    """``size``-px tiles (JPEG bytes) of ``rows``, the most-activating cell outlined when ``argmax`` is given.

    Encoded bytes at the size they are shown: fewer bytes for the browser to parse and decode on every switch.
    """
    grid = art.grid if argmax is not None and len(art.grid) == 2 else None
    offset = 1 if art.manifest.get("layout") == "BLD" else 0  # token layers: position 0 is the class token
    out = []
    for i, row in enumerate(rows):
        img = neuron_card.outlined_tile(open_image(art.image_path(row)), argmax[i] if grid else None, grid,
                                        size=size, offset=offset)
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=85)
        out.append(buf.getvalue())
    return out


def captions(df: pd.DataFrame, column: str = "value") -> list[str]:
    """Tile captions: the row's label (if any) and its ``column`` value (3 significant digits for floats)."""
    labels = df["label"].fillna("").astype(str) if "label" in df else pd.Series([""] * len(df))
    return [f"{lab} {v:+.3g}".strip() if isinstance(v, float) else f"{lab} {v}".strip()
            for lab, v in zip(labels, df[column].tolist())]


def grid(art, df: pd.DataFrame, *, outline: bool = True, column: str = "value", width: int = 110) -> Grid:
    """The tiles and captions of the rows of ``df`` (columns row, ``column``, label; argmax when outlined)."""
    rows = tuple(int(r) for r in df["row"])
    argmax = tuple(int(a) for a in df["argmax"]) if outline else None
    return Grid(rows, tuple(render_tiles(art, rows, argmax, width)), tuple(captions(df, column)), width)


def build_card(art, unit: int, *, top_k: int = 12, bottom_k: int = 6, buckets: int = 6, per_bucket: int = 2,
               similar: int = 8, width: int = 110, standardized: np.ndarray | None = None) -> CardData:
    """The collection part of ``unit``'s card (tiles ``width`` px; most-activating cell outlined on top tiles).

    ``standardized``: ``neuron_card.standardize(art.max)`` if the caller keeps it (else computed here).

    Raises:
        UnitOutOfRangeError: ``unit`` is not a unit of the artifact.
        ArtifactError: an image of the collection is missing or escapes its root.
    """
    top = grid(art, examples_frame(art, unit, top_k), width=width)
    bottom = grid(art, examples_frame(art, unit, bottom_k, bottom=True), outline=False, width=width)
    across = grid(art, bucket_frame(art, unit, buckets, per_bucket), column="z", width=width)
    hist = neuron_card.activation_histogram(unit_values(art, unit), std=float(art.unit_std[unit]))
    z = standardized if standardized is not None else neuron_card.standardize(art.max)
    corr = neuron_card.similar_by_correlation(z, unit, top=similar, standardized=True)
    return CardData(int(unit), top, bottom, across, hist, corr)


def grid_html(g: Grid) -> str:
    """One HTML block for a whole grid (inline JPEG data URIs with captions): a neuron switch re-renders one
    element per grid instead of one per tile, and the browser fetches nothing."""
    import base64
    import html

    cells = "".join(
        f'<figure style="margin:0;width:{g.width}px"><img alt="{html.escape(c)}" width="{g.width}" '
        f'height="{g.width}" src="data:image/jpeg;base64,{base64.b64encode(t).decode()}"/>'
        f'<figcaption style="font-size:0.8rem;text-align:center;opacity:0.7">{html.escape(c)}</figcaption></figure>'
        for t, c in zip(g.tiles, g.captions))
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
        cells.append(f'<figure style="margin:0;width:{width}px">{body}<figcaption style="font-size:0.8rem;'
                     f'opacity:0.7">{html.escape(caption)}<br/><code>{html.escape(detail)}</code></figcaption></figure>')
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
