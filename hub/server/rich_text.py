"""Author text made safe on the way in: Markdown rendered to HTML (markdown-it-py, CommonMark),
then any HTML cleaned by nh3 (an allow-list: no scripts, no event-handler attributes, no
`style`, links only to http, https, mailto or relative URLs, so no `javascript:`), before anything
is stored. Articles, reviews and comments go through here."""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

FORMATS = ("markdown", "html")
URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "noopener noreferrer nofollow"


def safe_html(text: str, text_format: str) -> str:
    """`text` (Markdown or HTML) as sanitised HTML."""
    if text_format not in FORMATS:
        raise ValueError(f"format: expected one of {', '.join(FORMATS)}, got {text_format!r}")
    html = MarkdownIt("commonmark", {"html": True}).render(text) if text_format == "markdown" else text
    return nh3.clean(html, url_schemes=URL_SCHEMES, link_rel=LINK_REL).strip()
