"""The README's "What runs where" names exactly the test files that need PostgreSQL, whole or in part,
so a reader knows what the default SQLite run leaves out."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK = re.compile(r"pytest\.mark\.postgres\b")
FILE_MARK = re.compile(r"^pytestmark\s*=.*pytest\.mark\.postgres\b", re.MULTILINE)


def _section(readme: str, heading: str) -> str:
    start = readme.index(heading)
    return readme[start : readme.index("\n## ", start)]


def _listed(text: str, after: str, before: str) -> set[str]:
    block = text[text.index(after) : text.index(before, text.index(after))]
    return set(re.findall(r"^- `(tests/[\w/]+\.py)`$", block, re.MULTILINE))


def test_the_readme_lists_every_postgresql_test_file_and_no_other():
    whole, part = set(), set()
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        text = path.read_text()
        if not MARK.search(text):
            continue
        name = str(path.relative_to(ROOT))
        (whole if FILE_MARK.search(text) else part).add(name)
    section = _section((ROOT / "README.md").read_text(), "### What runs where")
    listed_whole = _listed(section, "Wholly PostgreSQL-only", "PostgreSQL-only in part")
    listed_part = _listed(section, "PostgreSQL-only in part", "tests/test_readme_matrix.py")
    assert whole and part
    assert listed_whole == whole, f"README misses {whole - listed_whole}, names {listed_whole - whole} too"
    assert listed_part == part, f"README misses {part - listed_part}, names {listed_part - part} too"
