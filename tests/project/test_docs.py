"""The documentation holds: the README is a ten-minute read (at most 1,800 words), every relative
link in it and in docs/ resolves (to a file, and where it names an #anchor, to a heading of that
file by GitHub's slug rules), and the README's reading-order table names every module under
gatepose/ and no module that does not exist."""
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
MAX_WORDS = 1800
# Links that leave the repository point at its siblings (../shared/SPEC.md, ../shared/paper/...):
# they are looked up beside the repository, then under this workplace's /work.
OUTSIDE_BASES = (ROOT.parent, Path("/work"))
QUICK_START = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && gatepose demo",
    "python3 -m venv .venv && . .venv/bin/activate && pip install -q -e '.[test]' && python -m pytest -q",
)


# -- reading markdown -----------------------------------------------------------------------------
def _without_code(text: str) -> str:
    """The text with fenced code blocks blanked and inline code spans removed (no links in them)."""
    return "\n".join(re.sub(r"(`+)(?:(?!\1).)+?\1", "", line) for line in _without_fences(text).splitlines())


def _headings(text: str) -> list[str]:
    """ATX headings outside code blocks, as their text."""
    return [m.group(2) for line in _without_fences(text).splitlines()
            if (m := re.match(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$", line))]


def _without_fences(text: str) -> str:
    out, fence = [], None
    for line in text.splitlines():
        m = re.match(r"^\s{0,3}(`{3,}|~{3,})", line)
        if fence is None and m:
            fence = m.group(1)[0]
            out.append("")
        elif fence is not None:
            if re.match(r"^\s{0,3}" + re.escape(fence) + "{3,}\\s*$", line):
                fence = None
            out.append("")
        else:
            out.append(line)
    return "\n".join(out)


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text (code, emphasis and link syntax gone),
    lower case, every character but letters, digits, '_', '-' and spaces dropped, spaces to '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)      # [text](url) -> text
    text = re.sub(r"<[^>]+>", "", text)                             # inline HTML
    text = text.replace("`", "").replace("*", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set:
    """Every heading's anchor, repeated headings numbered -1, -2, ... as GitHub does."""
    seen, out = {}, set()
    for h in _headings(text):
        slug = github_slug(h)
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def links(text: str) -> list[str]:
    """The targets of inline links and images, and of reference definitions, outside code."""
    plain = _without_code(text)
    found = [m.group(1) for m in re.finditer(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)",
                                             plain)]
    found += re.findall(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$", plain, flags=re.M)
    return found


def _is_external(target: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target)) or target.startswith("//")


def broken_links(md: Path, root: Path = ROOT) -> list[str]:
    text = md.read_text(encoding="utf-8")
    outside_bases = (root.parent, *OUTSIDE_BASES[1:])
    bad = []
    for target in links(text):
        if not target or _is_external(target):
            continue
        path, _, anchor = target.partition("#")
        if not path:                                     # #anchor in this file
            if anchor not in anchors(text):
                bad.append(f"{target}: no heading with this anchor in {md.name}")
            continue
        resolved = Path(os.path.normpath(md.parent / path))
        if resolved == root or root in resolved.parents:
            where = resolved
        else:                                            # above the repository: beside it
            try:
                rel = resolved.relative_to(root.parent)
            except ValueError:
                continue                                 # further out than the repository's folder
            bases = [b for b in outside_bases if (b / rel.parts[0]).exists()]
            if not bases:
                continue                                 # the sibling folder is not on this machine
            where = next((b / rel for b in bases if (b / rel).exists()), bases[0] / rel)
        if not where.exists():
            bad.append(f"{target}: {where} does not exist")
        elif anchor and where.suffix == ".md" and anchor not in anchors(where.read_text(encoding="utf-8")):
            bad.append(f"{target}: no heading with the anchor #{anchor} in {where.name}")
    return bad


# -- the README's reading-order table --------------------------------------------------------------
def _expand(spec: str) -> list[str]:
    """Brace expansion: 'a/{b,c}.py' -> ['a/b.py', 'a/c.py'] (any number of groups)."""
    m = re.search(r"\{([^{}]*)\}", spec)
    if not m:
        return [spec]
    return [x for alt in m.group(1).split(",") for x in _expand(spec[:m.start()] + alt.strip() + spec[m.end():])]


def reading_order_section(text: str) -> str:
    lines = _without_fences(text).splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(r"^##\s+Reading order\s*$", line)), None)
    assert start is not None, "README.md has no '## Reading order' section"
    end = next((i for i in range(start + 1, len(lines)) if re.match(r"^#{1,2}\s", lines[i])), len(lines))
    return "\n".join(lines[start:end])


def table_paths(text: str) -> set:
    """Every path the reading-order table's code spans name, braces expanded."""
    rows = [line for line in reading_order_section(text).splitlines() if line.lstrip().startswith("|")]
    assert rows, "the README's reading-order section has no table"
    names = set()
    for row in rows:
        for span in re.findall(r"`([^`]+)`", row):
            for token in re.findall(r"[\w./{},-]+", span.replace("\\|", "|")):
                names.update(p.strip("./") if p.startswith("./") else p for p in _expand(token))
    return names


def package_modules() -> list[str]:
    """gatepose/**/*.py relative to the repository, without packages' __init__.py files."""
    return sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "gatepose").rglob("*.py")
                  if p.name != "__init__.py")


# -- the tests ---------------------------------------------------------------------------------------
def test_readme_is_a_ten_minute_read():
    words = len(README.read_text(encoding="utf-8").split())
    assert words <= MAX_WORDS, f"README.md has {words} words, more than {MAX_WORDS}: move detail to docs/"


def test_readme_keeps_the_quick_start_commands_verbatim():
    lines = {line.strip() for line in README.read_text(encoding="utf-8").splitlines()}
    for command in QUICK_START:
        assert command in lines, f"README.md lost the quick-start command: {command}"


@pytest.mark.parametrize("md", [README, *DOCS], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(md):
    bad = broken_links(md)
    assert not bad, f"{md.relative_to(ROOT)}:\n" + "\n".join(bad)


def test_the_reading_order_table_names_every_module():
    named = table_paths(README.read_text(encoding="utf-8"))
    missing = [m for m in package_modules() if m not in named]
    assert not missing, "modules the README's reading-order table does not name:\n" + "\n".join(missing)


def test_the_reading_order_table_names_no_missing_module():
    named = table_paths(README.read_text(encoding="utf-8"))
    ghosts = sorted(p for p in named if p.endswith(".py") and not (ROOT / p).is_file())
    assert not ghosts, "modules the README's reading-order table names that do not exist:\n" + "\n".join(ghosts)


def test_the_reading_order_table_says_where_spec_and_the_paper_are():
    section = reading_order_section(README.read_text(encoding="utf-8"))
    table = "\n".join(line for line in section.splitlines() if line.lstrip().startswith("|"))
    for target in ("../shared/SPEC.md", "../shared/paper/posegate-former.md"):
        assert target in links(table), f"the reading-order table does not link {target}"


# -- the helpers themselves ----------------------------------------------------------------------------
def test_github_slugs():
    assert github_slug("The gradient penalty's double backward") == "the-gradient-penaltys-double-backward"
    assert github_slug("Tests, gradient checks, and what is guaranteed") == "tests-gradient-checks-and-what-is-guaranteed"
    assert github_slug("`gatepose/fast/` and *speed*") == "gateposefast-and-speed"
    assert github_slug("[Link](x.md) text_with_underscore") == "link-text_with_underscore"
    assert anchors("# A\n## A\n```\n# not a heading\n```\n## A\n") == {"a", "a-1", "a-2"}


def test_brace_expansion():
    assert _expand("gatepose/{a,b}/{c,d}.py") == ["gatepose/a/c.py", "gatepose/a/d.py",
                                                  "gatepose/b/c.py", "gatepose/b/d.py"]
    assert _expand("gatepose/x.py") == ["gatepose/x.py"]


def test_the_link_check_finds_broken_links(tmp_path):
    repo = tmp_path / "repo"
    (repo / "docs").mkdir(parents=True)
    (repo / "README.md").write_text("# Top\n")
    (repo / "docs" / "testing.md").write_text("# Testing\n## What is guaranteed\n")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "SPEC.md").write_text("# SPEC\n")
    md = repo / "docs" / "x.md"
    md.write_text("[ok](../README.md#top) [ok](testing.md#what-is-guaranteed) [ok](#here) "
                  "[ok](../../shared/SPEC.md) [web](https://example.org/x.md) `[code](gone.md)`\n"
                  "## Here\n"
                  "[gone](missing.md) [bad anchor](testing.md#no-such-heading) [gone](../../shared/NO.md) "
                  "[bad](#nowhere)\n```\n[in a fence](gone-too.md)\n```\n")
    bad = broken_links(md, root=repo)
    assert [b.split(":")[0] for b in bad] == ["missing.md", "testing.md#no-such-heading",
                                              "../../shared/NO.md", "#nowhere"], bad
