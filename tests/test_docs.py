"""The README's and docs' relative links point at files and headings that exist.

Measurement text moves from the README into ``docs/`` as it grows; a link
written relative to the README stops resolving there (six did, found in the
fortieth session).
"""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def heading_anchor(heading):
    """GitHub's anchor of a Markdown heading: lower case, punctuation other
    than hyphens dropped, each space a hyphen."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page):
    found, in_code = set(), False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            found.add(heading_anchor(line.lstrip("#")))
    return found


def relative_links(page):
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if not re.match(r"[a-z]+:", target):
            yield target


def test_heading_anchor_follows_githubs_rule():
    assert heading_anchor(" The n = 500 ratio, session by session") == \
        "the-n--500-ratio-session-by-session"
    assert heading_anchor(" Paths solved upward; `LassoCV` for reference") == \
        "paths-solved-upward-lassocv-for-reference"


@pytest.mark.skipif(not (ROOT / "docs").is_dir(), reason="run from a source checkout")
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_resolve(page):
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target} (no file {dest.relative_to(ROOT)})")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no heading)")
    assert not broken, f"{page.name}: broken links: {broken}"
