"""Sources a reader can follow: nothing points outside the repository, every citation resolves."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "docs" / "sources.md"
CATALOG = ROOT / "bot" / "catalog" / "models.toml"
SKIPPED_DIRS = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
TEXT_SUFFIXES = {".py", ".toml", ".md", ".sql", ".txt", ".cfg", ".ini", ".yml", ".yaml", ".sh"}
TEXT_NAMES = {"Dockerfile", ".env.example", ".gitignore", "run"}
# Notes and paths that live on the machine the code was written on, not in the repository.
OUTSIDE = re.compile(r"research/|/work/|\.\./shared|\bresearch\b[\s:§]", re.IGNORECASE)
# The design contract the project was built to lives outside the repository too: cite the README.
OUTSIDE_CONTRACT = re.compile(r"\bDESIGN\b")
CITATION = re.compile(r"docs/sources\.md#([A-Za-z0-9._-]*[A-Za-z0-9])")
URL = re.compile(r"https?://\S+")
MARKDOWN_NAME = re.compile(r"[\w./-]*\w\.md\b")
ANCHOR = re.compile(r'<a id="([^"]+)"></a>')
LOCAL_LINK = re.compile(r"\]\(#([^)]+)\)")
TAG = re.compile(r"\[([A-Z][A-Za-z0-9.-]*)\]")
SECTION = re.compile(r"§(\d+(?:\.\d+)?[a-z]?)")


def text_files() -> Iterator[Path]:
    """Every text file of the repository that ships (not caches, environments or git)."""
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info"))
        for name in sorted(files):
            path = Path(folder) / name
            if path.suffix in TEXT_SUFFIXES or name in TEXT_NAMES:
                yield path


def anchors() -> set[str]:
    return set(ANCHOR.findall(SOURCES.read_text(encoding="utf-8")))


def comments(toml: str) -> str:
    """The comment part of each line of a TOML file (tags in values are not citations)."""
    return "\n".join(line.split("#", 1)[1] for line in toml.splitlines() if "#" in line)


def lines_matching(pattern: re.Pattern[str], skip: Path) -> list[str]:
    found = []
    for path in text_files():
        if path == skip:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return found


def test_no_file_refers_to_a_path_outside_the_repository() -> None:
    assert lines_matching(OUTSIDE, skip=Path(__file__).resolve()) == []


def test_no_comment_cites_the_design_contract_kept_outside_the_repository() -> None:
    assert lines_matching(OUTSIDE_CONTRACT, skip=Path(__file__).resolve()) == []


def test_every_markdown_file_named_is_in_the_repository() -> None:
    shipped = {p.relative_to(ROOT).as_posix() for p in text_files() if p.suffix == ".md"}
    names = shipped | {Path(p).name for p in shipped}
    missing = []
    for path in text_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for name in MARKDOWN_NAME.findall(URL.sub("", line)):
                if name not in names:
                    missing.append(f"{path.relative_to(ROOT)}:{number}: {name}")
    assert missing == []


def test_every_citation_of_docs_sources_has_its_anchor() -> None:
    known = anchors()
    cited = [
        f"{path.relative_to(ROOT)}: #{anchor}"
        for path in text_files()
        for anchor in CITATION.findall(path.read_text(encoding="utf-8"))
        if anchor not in known
    ]
    links = LOCAL_LINK.findall(SOURCES.read_text(encoding="utf-8"))
    assert cited == [] and sorted(set(links) - known) == []


def test_every_tag_and_section_mark_of_the_catalog_is_in_docs_sources() -> None:
    known = anchors()
    notes = comments(CATALOG.read_text(encoding="utf-8"))
    tags = {tag.lower() for tag in TAG.findall(notes)}
    sections = {f"s{mark.lower()}" for mark in SECTION.findall(notes)}
    assert tags and sections  # the catalog does cite its sources
    assert sorted((tags | sections) - known) == []
    assert "lifecycle table" not in notes or "lifecycle" in known


def test_every_anchor_is_unique_and_every_entry_gives_a_public_source() -> None:
    text = SOURCES.read_text(encoding="utf-8")
    ids = ANCHOR.findall(text)
    assert len(ids) == len(set(ids))
    entries = re.split(r"\n(?=- <a id=)|\n\n", text.split("\n## Entries\n", 1)[1])
    listed = [e for e in entries if e.startswith("- <a id=")]
    assert len(listed) > 20 and [e for e in listed if "https://" not in e] == []
