"""The dashboard's Streamlit shell: what pages call. ``core`` never imports this package.

Pages use the names re-exported here (``ui.Context``, ``ui.page_context``, ``ui.error_box``, ``ui.unit_picker``,
...) and the caches in ``ui.resources``; URL values are validated by ``ui.urlstate`` before any widget sees them.

    state.py, context.py Context (model, layer, collection); the shared sidebar that picks it
    index_panel.py       the sidebar's "Index a folder": a folder or an upload, at a layer; the result selected
    url.py               widgets bound to URL parameters; the view written back into the URL
    widgets.py           unit picker, example grids, HTML blocks, charts, uploads, result lists, job progress
    html.py              the HTML of those blocks (every text escaped); md_escape / md_code for markdown
    errors.py            CoreError as a message, anything else as a reported bug
    featurevis_card.py   the card's feature visualizations and rastered words
    resources/           every cache (st.cache_*, the card cache) and the background jobs
    jobs.py, prefetch.py background jobs and the prefetching card cache (no streamlit)
    static_cache.py      the front end's files answered from memory
    web/                 the card_view component (JS, CSS)
"""
from ui.context import page_context, shell_context, sidebar_context
from ui.errors import error_box, section_errors
from ui.featurevis_card import feature_visualization_card
from ui.html import md_code, md_escape, units_table_html
from ui.state import Context
from ui.url import bind_url, remember, show_url_problems, url_choice, url_flag, url_int, url_text, write_url
from ui.widgets import (
                        UPLOAD_MAX_BYTES,
                        UPLOAD_MAX_MB,
                        UPLOAD_MAX_PIXELS,
                        UPLOAD_TYPES,
                        altair,
                        card_chart,
                        grid_sections,
                        has_examples,
                        html_block,
                        image_grid,
                        likely_next_units,
                        neuron_result_list,
                        read_upload,
                        set_unit,
                        share_link,
                        similar_chips,
                        table,
                        unit_picker,
                        watch_job,
)

__all__ = [
    "Context", "UPLOAD_MAX_BYTES", "UPLOAD_MAX_MB", "UPLOAD_MAX_PIXELS", "UPLOAD_TYPES", "altair", "bind_url", "card_chart", "error_box",
    "feature_visualization_card", "has_examples", "grid_sections", "html_block", "md_code", "md_escape", "image_grid", "likely_next_units",
    "neuron_result_list", "page_context", "read_upload", "remember", "section_errors", "set_unit", "share_link",
    "shell_context", "show_url_problems", "sidebar_context", "similar_chips", "table", "unit_picker", "url_choice", "url_flag", "url_int", "url_text", "watch_job",
    "units_table_html", "write_url",
]
