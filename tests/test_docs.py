"""Every relative link of the README, config/README.md and docs/ resolves: to a file of the repository, and
where it names a heading (`page.md#anchor`, `#anchor`), to a heading of that page (GitHub's slugs)."""

import re

import pytest

from .conftest import REPO

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")
CODE_SPAN = re.compile(r"(`+).*?\1")


def doc_pages(root):
    """The pages whose links are checked: the README, config/README.md and every Markdown file under docs/."""
    pages = [root / "README.md", root / "config" / "README.md"]
    pages += sorted((root / "docs").rglob("*.md"))
    return [page for page in pages if page.is_file()]


def prose_lines(text):
    """Every line, those of fenced code blocks and inline code spans blanked (links in code are not links)."""
    fence = None
    for line in text.splitlines():
        stripped = line.lstrip()
        if fence is None and stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
            yield ""
            continue
        if fence is not None:
            if stripped.startswith(fence):
                fence = None
            yield ""
            continue
        yield CODE_SPAN.sub("", line)


def slug(heading):
    """GitHub's anchor of a heading: lower case, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page):
    """Every anchor a page defines: its headings' slugs (a repeated one gets -1, -2, ...) and HTML anchors."""
    found, seen = set(), {}
    text = page.read_text(encoding="utf-8")
    for line in prose_lines(text):
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    found.update(HTML_ANCHOR.findall(text))
    return found


def broken_links(root):
    """(page, line, target, why) for every relative link that does not resolve; http(s) and mailto skipped."""
    root = root.resolve()
    broken = []
    for page in doc_pages(root):
        for number, line in enumerate(prose_lines(page.read_text(encoding="utf-8")), start=1):
            for target in LINK.findall(line):
                if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):
                    continue
                path, _, fragment = target.partition("#")
                resolved = (page.parent / path).resolve() if path else page
                where = f"{page.relative_to(root)}:{number}"
                if not resolved.is_relative_to(root):
                    broken.append((where, target, "leaves the repository"))
                elif not resolved.exists():
                    broken.append((where, target, "no such file"))
                elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
                    broken.append((where, target, "no such heading"))
    return broken


def test_every_relative_link_resolves():
    broken = broken_links(REPO)
    assert not broken, "broken links:\n" + "\n".join(" ".join(entry) for entry in broken)


def test_the_pages_link_the_readme_and_the_docs():
    pages = {page.relative_to(REPO).as_posix() for page in doc_pages(REPO)}
    assert {"README.md", "config/README.md", "docs/precision.md", "docs/benchmarks.md"} <= pages
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for page in sorted((REPO / "docs" / "studies").glob("*.md")) + [REPO / "config" / "README.md"]:
        assert page.relative_to(REPO).as_posix() in readme, f"the README does not link {page.name}"


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("Seed 002: a 1-D normal learned from 67 draws", "seed-002-a-1-d-normal-learned-from-67-draws"),
        (
            "The toy: two floors, a longer schedule and the circle's tear",
            "the-toy-two-floors-a-longer-schedule-and-the-circles-tear",
        ),
        ("Precision: float32 and bfloat16", "precision-float32-and-bfloat16"),
        ("`config.yaml`: the studies", "configyaml-the-studies"),
    ],
)
def test_slug_is_githubs(heading, expected):
    assert slug(heading) == expected


def test_a_broken_link_or_anchor_is_found(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("# A page\n\n## Two words\n\n## Two words\n", encoding="utf-8")
    (tmp_path / "README.md").write_text(
        "# Top\n\n"
        "[ok](docs/page.md) [ok](docs/page.md#two-words) [ok](docs/page.md#two-words-1) [ok](#top)\n"
        "[web](https://example.org/nowhere) `[code](missing.md)`\n\n"
        "```\n[fenced](missing.md)\n```\n\n"
        "[gone](docs/missing.md) [anchor](docs/page.md#three-words) [self](#bottom) [out](../elsewhere.md)\n",
        encoding="utf-8",
    )
    broken = broken_links(tmp_path)
    assert [(target, why) for _, target, why in broken] == [
        ("docs/missing.md", "no such file"),
        ("docs/page.md#three-words", "no such heading"),
        ("#bottom", "no such heading"),
        ("../elsewhere.md", "leaves the repository"),
    ]
