"""Every relative link in the course's Markdown resolves to a file of the repository (anchors are not checked)."""
import re
from pathlib import Path
from urllib.parse import unquote

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|(?:href|src)=\"([^\"]+)\"")
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//|#)", re.IGNORECASE)  # http:, mailto:, data:, //host, #anchor


def markdown_sources():
    """(path, markdown text) for the README files, docs/ and every notebook's Markdown cells."""
    files = [ROOT / "README.md", ROOT / "autograder" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for path in files:
        if path.exists():
            yield path, path.read_text()
    for folder in ("lectures", "solutions", "assignments"):
        for path in sorted((ROOT / folder).rglob("*.ipynb")):
            if ".ipynb_checkpoints" in path.parts:
                continue
            nb = nbformat.read(path, as_version=4)
            yield path, "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def relative_links(text):
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)  # code blocks are not links
    for match in LINK.finditer(text):
        target = match.group(1) or match.group(2)
        if not EXTERNAL.match(target):
            yield target


def test_the_link_pattern_finds_relative_links_only():
    text = ('[a](lectures/00_overview.ipynb) [b](https://x.org/y) ![c](docs/p.png "title") [d](#top) '
            '<img src="docs/q.png"> [e](../README.md#quick-start)')
    assert list(relative_links(text)) == ["lectures/00_overview.ipynb", "docs/p.png", "docs/q.png",
                                          "../README.md#quick-start"]


SOURCES = list(markdown_sources())


@pytest.mark.parametrize("path,text", SOURCES, ids=[str(p.relative_to(ROOT)) for p, _ in SOURCES])
def test_relative_links_resolve(path, text):
    broken = [target for target in relative_links(text)
              if not (path.parent / unquote(target.split("#")[0].split("?")[0])).exists()]
    assert not broken, f"{path.relative_to(ROOT)}: broken relative links {broken}"


def test_the_readme_library_table_lists_every_module_and_method():
    """The README's "The library" table names every module of ssl_course and every method class."""
    import pkgutil

    import ssl_course
    from ssl_course import methods

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme[readme.index("## The library"):]
    table = table[:table.index("```")]
    modules = [m.name for m in pkgutil.iter_modules(ssl_course.__path__)]
    missing = [m for m in modules if f"`ssl_course.{m}`" not in table and f"`{m}`" not in table]
    assert not missing, f"modules missing from the README's library table: {missing}"
    classes = [n for n in methods.__all__ if n[0].isupper() and n not in ("METHODS", "CONTRASTIVE", "NON_CONTRASTIVE", "VIEW_METHODS", "Method")]
    assert not [c for c in classes if f"`{c}`" not in table], classes
