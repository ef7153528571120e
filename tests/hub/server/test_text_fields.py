"""The text rules of hub/server/text_fields.py: plain text, prompt text (extra-network tags kept)."""

from __future__ import annotations

import pytest

from hub.server.text_fields import MarkupRejected, plain_text, prompt_text


@pytest.mark.parametrize(
    ("raw", "plain"),
    [
        ("<script>alert(1)</script>Ink <b>Style</b>", "Ink Style"),
        ("Tom &amp; Jerry", "Tom & Jerry"),
        ("a < b > c", "a < b > c"),
        ("&lt;script&gt;alert(1)&lt;/script&gt;Fox", "Fox"),  # escaped markup does not come back
        ("&amp;lt;img src=x onerror=alert(1)&amp;gt;Owl", "Owl"),
        ('<img src=x onerror="alert(1)">', ""),
        ("Plain name v2.0 (SDXL) [beta] 100%", "Plain name v2.0 (SDXL) [beta] 100%"),
    ],
)
def test_plain_text(raw: str, plain: str) -> None:
    assert plain_text(raw) == plain
    assert plain_text(plain) == plain  # clean text is a fixed point


def test_prompt_text_keeps_extra_network_tags() -> None:
    assert prompt_text("inkstyle, <lora:ink style:0.8>, <hypernet:h1:1>") == (
        "inkstyle, <lora:ink style:0.8>, <hypernet:h1:1>"
    )
    assert prompt_text('<lora:x:1><img src=x onerror="alert(1)"><b>bold</b>') == "<lora:x:1>bold"
    assert prompt_text("<x:y onmouseover=alert(1)>") == ""  # `=`: not an extra-network tag
    with pytest.raises(MarkupRejected):
        plain_text("&" + "amp;" * 12 + "lt;b&gt;")  # escaped twelve times over
