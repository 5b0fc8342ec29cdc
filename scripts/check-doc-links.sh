#!/usr/bin/env bash
# Checks that every relative link of the project's Markdown resolves: the file or directory exists, and a
# `#heading` anchor names a heading of the target (GitHub's anchors) or an HTML id in it. Links to other
# sites are not fetched. Exits 1 and lists each broken link (file:line) when one does not resolve.
#
#   bash scripts/check-doc-links.sh            # README.md, docs/**/*.md and the other READMEs
#   bash scripts/check-doc-links.sh FILE.md…   # only these files
#
# Python's standard library only; code blocks and inline code are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 - "$@" <<'PYTHON'
import glob
import os
import re
import sys
import unicodedata

DEFAULT = ["README.md", "docs/**/*.md", "benches/README.md", "deploy/README.md", "tracker-js/README.md",
           "crates/*/API.md", "fixtures/README.md"]

FENCE = re.compile(r"^ {0,3}(```|~~~)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ID = re.compile(r"""<a\s[^>]*(?:name|id)\s*=\s*["']([^"']+)["']""", re.I)
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
# [text](target) and ![alt](target); text may hold one level of brackets.
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)(?:\s+[\"'(][^)]*)?\)")
REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def slug(text):
    """GitHub's anchor for a heading: its text without markup, lower case, punctuation dropped, spaces to -."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links keep their text
    text = re.sub(r"<[^>]+>", "", text)                      # inline HTML
    text = text.replace("`", "")
    out = []
    for ch in text.lower():
        cat = unicodedata.category(ch)
        if ch in " -":
            out.append("-")
        elif ch == "_" or cat[0] in "LN" or cat == "Mn":
            out.append(ch)
    return "".join(out)


def lines_outside_code(path):
    """(line number, text) of every line outside fenced code blocks."""
    fence = None
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            m = FENCE.match(line)
            if m:
                if fence is None:
                    fence = m.group(1)
                elif line.strip().startswith(fence):
                    fence = None
                continue
            if fence is None:
                yield n, line.rstrip("\n")


_anchors = {}


def anchors(path):
    if path not in _anchors:
        found, seen = set(), {}
        for _, line in lines_outside_code(path):
            m = HEADING.match(line)
            if m:
                base = slug(m.group(2))
                count = seen.get(base, 0)
                seen[base] = count + 1
                found.add(base if count == 0 else f"{base}-{count}")
            found.update(HTML_ID.findall(line))
        _anchors[path] = found
    return _anchors[path]


def links(path):
    for n, line in lines_outside_code(path):
        bare = INLINE_CODE.sub("", line)
        for m in INLINE_LINK.finditer(bare):
            yield n, m.group(1)
        m = REFERENCE_DEF.match(bare)
        if m:
            yield n, m.group(1)


def check(path):
    broken = []
    for n, target in links(path):
        target = target.strip("<>")
        if not target or SCHEME.match(target) or target.startswith("//"):
            continue
        file_part, _, anchor = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
        if not os.path.exists(dest):
            broken.append(f"{path}:{n}: {target}: no such file or directory")
            continue
        if anchor:
            if not dest.endswith(".md") or os.path.isdir(dest):
                broken.append(f"{path}:{n}: {target}: an anchor into something that is not Markdown")
            elif anchor not in anchors(dest):
                broken.append(f"{path}:{n}: {target}: {dest} has no heading with this anchor")
    return broken


def main(args):
    files = []
    for pattern in args or DEFAULT:
        matched = sorted(glob.glob(pattern, recursive=True))
        if not matched:
            sys.exit(f"check-doc-links: nothing matches {pattern}")
        files += [f for f in matched if f not in files]
    broken = [b for f in files for b in check(f)]
    for b in broken:
        print(b, file=sys.stderr)
    if broken:
        sys.exit(f"check-doc-links: {len(broken)} broken link(s) in {len(files)} file(s)")
    print(f"check-doc-links: {len(files)} files, every relative link and anchor resolves")


main(sys.argv[1:])
PYTHON
