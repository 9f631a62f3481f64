"""What a tagged PDF's structure holds, checked the way a screen reader would rely on it.

    .venv/bin/python bench/pdf_structure.py build/book-screen.pdf [--page N]

Prints the findings (0 everywhere is clean) and, with --page, the structure elements that have
content on page N (1-based), indented, with their alt text. The checks:
- every text and image drawn on a page is inside marked content that is either tagged (an MCID
  the parent tree maps to an element reachable from the root) or an /Artifact;
- every MCID of the content maps to an element, and every element's MCIDs exist;
- every /Figure has /Alt; every link annotation belongs to a /Link element;
- the document has /Lang, /MarkInfo Marked and DisplayDocTitle.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pikepdf

PAINTING = {"Tj", "TJ", "'", '"', "Do", "sh", "BI"}


@dataclass
class Findings:
    pages: int = 0
    elements: Counter = field(default_factory=Counter)
    unmarked_painting: int = 0            # text or images in no marked content
    mcids_without_element: int = 0        # marked as content, but nothing in the tree
    elements_without_content: int = 0     # an MCID of the tree that the page does not have
    figures_without_alt: int = 0
    links_without_element: int = 0
    artifacts: int = 0
    catalogue: list[str] = field(default_factory=list)

    @property
    def problems(self) -> int:
        return (self.unmarked_painting + self.mcids_without_element + self.elements_without_content
                + self.figures_without_alt + self.links_without_element + len(self.catalogue))


def _kids(element) -> list:
    kids = element.get("/K")
    if kids is None:
        return []
    return list(kids) if isinstance(kids, pikepdf.Array) else [kids]


def walk(pdf: pikepdf.Pdf):
    """(element, depth, its page or None, [(page objgen, mcid)], [link annotation objgens]) for every element."""
    stack = [(kid, 0, None) for kid in reversed(_kids(pdf.Root.StructTreeRoot))]
    while stack:
        element, depth, page = stack.pop()
        page = element.get("/Pg", page)
        mcids, links, children = [], [], []
        for kid in _kids(element):
            if isinstance(kid, int):
                mcids.append((page.objgen if page is not None else None, int(kid)))
            elif isinstance(kid, pikepdf.Dictionary) and kid.get("/Type") == "/MCR":
                mcids.append((kid.get("/Pg", page).objgen, int(kid.MCID)))
            elif isinstance(kid, pikepdf.Dictionary) and kid.get("/Type") == "/OBJR":
                links.append(kid.Obj.objgen)
            elif isinstance(kid, pikepdf.Dictionary) and "/S" in kid:
                children.append(kid)
        yield element, depth, page, mcids, links
        stack.extend((child, depth + 1, page) for child in reversed(children))


def page_marks(page) -> tuple[set[int], int, int]:
    """(MCIDs the page's content has, painting operators outside marked content, artifact sequences)."""
    mcids, unmarked, artifacts = set(), 0, 0
    stack: list[str] = []
    for operands, operator in pikepdf.parse_content_stream(page):
        op = str(operator)
        if op in ("BDC", "BMC"):
            tag = str(operands[0])
            if tag == "/Artifact":
                artifacts += 1
                stack.append("artifact")
            elif op == "BDC" and isinstance(operands[1], pikepdf.Dictionary) and "/MCID" in operands[1]:
                mcids.add(int(operands[1].MCID))
                stack.append("content")
            else:
                stack.append("other")
        elif op == "EMC":
            if stack:
                stack.pop()
        elif op in PAINTING and not any(kind in ("artifact", "content") for kind in stack):
            unmarked += 1
    return mcids, unmarked, artifacts


def check(path: Path, show_page: int | None = None) -> Findings:
    found = Findings()
    with pikepdf.open(path) as pdf:
        found.pages = len(pdf.pages)
        root = pdf.Root
        if "/StructTreeRoot" not in root:
            found.catalogue.append("no structure tree")
            return found
        if not str(root.get("/Lang", "")):
            found.catalogue.append("no /Lang")
        if not (root.get("/MarkInfo") and root.MarkInfo.get("/Marked")):
            found.catalogue.append("MarkInfo Marked is not true")
        if not (root.get("/ViewerPreferences") and root.ViewerPreferences.get("/DisplayDocTitle")):
            found.catalogue.append("DisplayDocTitle is not set")
        tagged: dict = {}
        linked: set = set()
        shown_page = pdf.pages[show_page - 1].obj.objgen if show_page else None
        for element, depth, page, mcids, links in walk(pdf):
            kind = str(element.S)
            found.elements[kind] += 1
            if kind == "/Figure" and not str(element.get("/Alt", "")).strip():
                found.figures_without_alt += 1
            for key in mcids:
                tagged.setdefault(key[0], set()).add(key[1])
            linked.update(links)
            if shown_page and (any(p == shown_page for p, _ in mcids) or (page is not None and page.objgen == shown_page)):
                alt = f'  Alt="{element.Alt}"' if "/Alt" in element else ""
                lang = f"  Lang={element.Lang}" if "/Lang" in element else ""
                print(f"{'  ' * depth}{kind}{alt}{lang}  MCIDs {[m for p, m in mcids if p == shown_page]}")
        for page in pdf.pages:
            present, unmarked, artifacts = page_marks(page)
            found.unmarked_painting += unmarked
            found.artifacts += artifacts
            in_tree = tagged.get(page.obj.objgen, set())
            found.mcids_without_element += len(present - in_tree)
            found.elements_without_content += len(in_tree - present)
            for annotation in page.obj.get("/Annots", []):
                if annotation.get("/Subtype") == "/Link" and annotation.objgen not in linked:
                    found.links_without_element += 1
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pdf", type=Path)
    parser.add_argument("--page", type=int, help="print the structure of this page (1-based)")
    args = parser.parse_args(argv)
    found = check(args.pdf, args.page)
    print(f"{args.pdf}: {found.pages} pages; elements: "
          + ", ".join(f"{k[1:]} {v}" for k, v in found.elements.most_common()))
    for name in ("unmarked_painting", "mcids_without_element", "elements_without_content", "figures_without_alt",
                 "links_without_element", "artifacts"):
        print(f"  {name.replace('_', ' ')}: {getattr(found, name)}")
    for problem in found.catalogue:
        print(f"  catalogue: {problem}")
    return 1 if found.problems else 0


if __name__ == "__main__":
    sys.exit(main())
