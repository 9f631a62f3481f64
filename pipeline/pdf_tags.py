"""The tagged PDF's structure tree across merged pieces, and artifacts for the page furniture.

WeasyPrint (`pdf_tags=True`) writes a structure tree per PDF it lays out: a Document element
holding headings, paragraphs, lists, tables, figures with their alt text and links, and a
parent tree that maps each page's marked content (MCID) and each link back to its element.
The parallel writer lays the book out in pieces and merges them page range by page range
(pipeline/pdf_parallel.py), so the trees are merged here: each piece's elements that have
content on the copied pages are rebuilt under one Document, in reading order, and the parent
tree is numbered anew. WeasyPrint builds elements per page, so a page range cuts no element.

Running heads, folios and the DRAFT flag are margin boxes: WeasyPrint marks their content but
leaves it out of the tree (PDF 1.7 has no artifact elements). Content that no element reaches
becomes /Artifact (pagination) here, as PDF/UA asks.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import pikepdf

# How WeasyPrint opens a marked-content sequence: "/Span\n<</MCID 5>>\nBDC".
MARKED = re.compile(rb"/([A-Za-z][\w.]*)\s*<<\s*/MCID\s+(\d+)\s*>>\s*BDC")
ARTIFACT = b"/Artifact <</Type /Pagination>> BDC"
# An element's own keys besides its kids, parent and page, kept as they are (alt text, language,
# layout attributes, table headers).
KEPT_KEYS = ("/Alt", "/ActualText", "/Lang", "/E", "/A", "/T", "/C", "/ID")


@dataclass
class _Tree:
    """The merged tree being built in `out`."""
    out: pikepdf.Pdf
    document: pikepdf.Dictionary
    # new page objgen -> {mcid: its element}; new annotation objgen -> (annotation, its element)
    marked: dict[tuple[int, int], dict[int, pikepdf.Object]] = field(default_factory=dict)
    links: dict[tuple[int, int], tuple[pikepdf.Object, pikepdf.Object]] = field(default_factory=dict)
    # new page objgen -> its parent-tree array as copied whole (a piece merged with all its pages)
    arrays: dict[tuple[int, int], pikepdf.Array] = field(default_factory=dict)


def is_tagged(pdf: pikepdf.Pdf) -> bool:
    return "/StructTreeRoot" in pdf.Root


def object_streams(pdf: pikepdf.Pdf) -> pikepdf.ObjectStreamMode:
    """A tagged book has a hundred thousand small elements, 18 MB of the bench book's 23 written one
    by one; packed into compressed object streams they take a tenth. An untagged PDF stays as it was."""
    return pikepdf.ObjectStreamMode.generate if is_tagged(pdf) else pikepdf.ObjectStreamMode.preserve


def new_tree(out: pikepdf.Pdf, template: pikepdf.Pdf) -> _Tree:
    """An empty structure tree in `out`, its catalogue entries as `template`'s (a tagged piece)."""
    root = out.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.StructTreeRoot))
    document = out.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.StructElem, S=pikepdf.Name.Document,
                                                    P=root, K=pikepdf.Array()))
    root.K = pikepdf.Array([document])
    source_root = template.Root.StructTreeRoot
    for key in ("/RoleMap", "/ClassMap"):
        if key in source_root:
            root[key] = out.copy_foreign(source_root[key])
    out.Root.StructTreeRoot = root
    out.Root.MarkInfo = pikepdf.Dictionary(Marked=True)
    out.Root.ViewerPreferences = pikepdf.Dictionary(DisplayDocTitle=True)
    return _Tree(out, document)


def add_range(tree: _Tree, source: pikepdf.Pdf, first: int, count: int, start: int) -> None:
    """The elements of `source`'s pages first..first+count, which were copied to out's pages from `start`."""
    if not is_tagged(source):
        return
    if first == 0 and count == len(source.pages):
        _add_whole(tree, source, start)
        return
    pages = {source.pages[first + i].objgen: tree.out.pages[start + i].obj for i in range(count)}
    annotations = {}
    for old_objgen, new_page in pages.items():
        old_page = source.get_object(old_objgen)
        for old, new in zip(old_page.get("/Annots", []), new_page.get("/Annots", [])):
            annotations[old.objgen] = new
    for top in _kids(source.Root.StructTreeRoot):
        for document_kid in (_kids(top) if _name(top) == "/Document" else [top]):
            element = _rebuild(tree, source, document_kid, tree.document, pages, annotations, None)
            if element is not None:
                tree.document.K.append(element)


def _add_whole(tree: _Tree, source: pikepdf.Pdf, start: int) -> None:
    """A piece merged with all its pages: its tree copied as it is, by qpdf (an element at a time in
    Python took 4 s of the bench book's merge). The pages were copied first, and qpdf maps every
    reference to them, and to their links, onto those copies."""
    old_root = source.Root.StructTreeRoot
    nums = _number_tree(old_root.get("/ParentTree"))
    tops = _kids(old_root)
    for top in tops:
        copied = tree.out.copy_foreign(top)
        for kid in (_kids(copied) if _name(copied) == "/Document" else [copied]):
            if isinstance(kid, pikepdf.Dictionary) and "/S" in kid:
                kid.P = tree.document
                tree.document.K.append(kid)
    for index, old_page in enumerate(source.pages):
        new_page = tree.out.pages[start + index].obj
        key = old_page.obj.get("/StructParents")
        if key is not None and int(key) in nums:
            tree.arrays[new_page.objgen] = _foreign(tree, source, nums[int(key)])
        for old, new in zip(old_page.obj.get("/Annots", []), new_page.get("/Annots", [])):
            key = old.get("/StructParent")
            if key is not None and int(key) in nums:
                tree.links[new.objgen] = (new, tree.out.copy_foreign(nums[int(key)]))


def _foreign(tree: _Tree, source: pikepdf.Pdf, value):
    """`value` of `source` copied into the merged PDF. A direct object belongs to its PDF too: only an
    indirect one can be copied over."""
    return tree.out.copy_foreign(value if value.is_indirect else source.make_indirect(value))


def _number_tree(node) -> dict[int, pikepdf.Object]:
    """A number tree's entries (flat /Nums, or /Kids)."""
    entries: dict[int, pikepdf.Object] = {}
    stack = [node] if node is not None else []
    while stack:
        current = stack.pop()
        flat = current.get("/Nums")
        if flat is not None:
            for index in range(0, len(flat) - 1, 2):
                entries[int(flat[index])] = flat[index + 1]
        stack.extend(current.get("/Kids", []))
    return entries


def _rebuild(tree: _Tree, source: pikepdf.Pdf, old, parent, pages, annotations, page):
    """A copy of `old` under `parent` holding only its content on the copied pages; None if it has none."""
    if not isinstance(old, pikepdf.Dictionary) or _name(old) is None:
        return None
    page = old.get("/Pg", page)
    new = tree.out.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.StructElem, S=old.S, P=parent))
    kids = pikepdf.Array()
    for kid in _kids(old):
        if isinstance(kid, int):
            if page is not None and page.objgen in pages:
                kids.append(kid)
                tree.marked.setdefault(pages[page.objgen].objgen, {})[int(kid)] = new
        elif isinstance(kid, pikepdf.Dictionary) and kid.get("/Type") == "/MCR":
            mcr_page = kid.get("/Pg", page)
            if mcr_page is not None and mcr_page.objgen in pages:
                new_page = pages[mcr_page.objgen]
                kids.append(pikepdf.Dictionary(Type=pikepdf.Name.MCR, Pg=new_page, MCID=kid.MCID))
                tree.marked.setdefault(new_page.objgen, {})[int(kid.MCID)] = new
        elif isinstance(kid, pikepdf.Dictionary) and kid.get("/Type") == "/OBJR":
            annotation = annotations.get(kid.Obj.objgen)
            obj_page = kid.get("/Pg", page)
            if annotation is not None and obj_page is not None and obj_page.objgen in pages:
                kids.append(tree.out.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.OBJR, Obj=annotation,
                                                                      Pg=pages[obj_page.objgen])))
                tree.links[annotation.objgen] = (annotation, new)
        else:
            child = _rebuild(tree, source, kid, new, pages, annotations, page)
            if child is not None:
                kids.append(child)
    if not len(kids):
        return None         # left unreferenced, so not written
    new.K = kids
    if page is not None and page.objgen in pages:
        new.Pg = pages[page.objgen]
    for key in KEPT_KEYS:
        if key in old:
            value = old[key]
            if isinstance(value, (pikepdf.Dictionary, pikepdf.Array)):
                value = _foreign(tree, source, value)
            new[key] = value
    return new


def finish(tree: _Tree) -> None:
    """Number the parent tree anew and turn the content no element reaches into artifacts."""
    nums = pikepdf.Array()
    key = 0
    for page in tree.out.pages:
        array = tree.arrays.get(page.obj.objgen)
        if array is not None:
            # a piece tidied where it was laid out (tidy()): its furniture is artifacts already
            reached = len(array)
        else:
            elements = tree.marked.get(page.obj.objgen, {})
            reached = len(elements)
            if elements:
                array = pikepdf.Array([elements.get(mcid) for mcid in range(max(elements) + 1)])
            _mark_artifacts(page, set(elements))
        if not reached:
            if "/StructParents" in page.obj:
                del page.obj["/StructParents"]
            continue
        page.obj.StructParents = key
        nums.append(key)
        nums.append(array)
        key += 1
    for page in tree.out.pages:
        for annotation in page.obj.get("/Annots", []):
            found = tree.links.get(annotation.objgen)
            if found is None:
                if "/StructParent" in annotation:
                    del annotation["/StructParent"]
                continue
            annotation.StructParent = key
            nums.append(key)
            nums.append(found[1])
            key += 1
    root = tree.out.Root.StructTreeRoot
    root.ParentTree = tree.out.make_indirect(pikepdf.Dictionary(Nums=nums))
    root.ParentTreeNextKey = key


def tidy(pdf: pikepdf.Pdf) -> None:
    """One PDF as WeasyPrint wrote it, its margin content made artifacts and its parent tree holding
    only elements of the tree: what a piece is before it is merged (in the worker that laid it out)."""
    finish(collect(pdf))


def collect(pdf: pikepdf.Pdf) -> _Tree:
    """The tree WeasyPrint wrote in one PDF, as a merge would have built it, for finish(); its
    table headers say which cells they head."""
    top = _kids(pdf.Root.StructTreeRoot)
    tree = _Tree(pdf, top[0] if len(top) == 1 and _name(top[0]) == "/Document" else pdf.Root.StructTreeRoot)
    _collect(tree, pdf.Root.StructTreeRoot, None)
    _scope_headers(tree.document)
    return tree


def _collect(tree: _Tree, element, page) -> None:
    """Record, in place, which element each reached MCID and link belongs to."""
    for kid in _kids(element):
        if isinstance(kid, int):
            if page is not None:
                tree.marked.setdefault(page.objgen, {})[int(kid)] = element
        elif isinstance(kid, pikepdf.Dictionary):
            kind = kid.get("/Type")
            if kind == "/MCR":
                tree.marked.setdefault(kid.Pg.objgen, {})[int(kid.MCID)] = element
            elif kind == "/OBJR":
                tree.links[kid.Obj.objgen] = (kid.Obj, element)
            elif _name(kid) is not None:
                _collect(tree, kid, kid.get("/Pg", page))


def _mark_artifacts(page, reached: set[int]) -> None:
    """Marked content of this page that no element reaches -> /Artifact."""
    streams = page.obj.Contents if isinstance(page.obj.get("/Contents"), pikepdf.Array) else [page.obj.Contents]
    for stream in streams:
        data = stream.read_bytes()
        changed = MARKED.sub(lambda m: m.group(0) if int(m.group(2)) in reached else ARTIFACT, data)
        if changed != data:
            stream.write(changed)


# Elements that hold no table: the header walk does not go into them (most of a tree is spans).
_NO_TABLES = {"/P", "/Span", "/Link", "/H1", "/H2", "/H3", "/H4", "/H5", "/H6", "/Lbl", "/Caption", "/Figure",
              "/TD", "/TH"}


def _scope_headers(element, in_head: bool = False) -> None:
    """A /TH in the table's head heads its column, one elsewhere its row (PDF/UA 7.5: the header
    of each cell must be determinable; WeasyPrint writes none)."""
    for kid in _kids(element):
        name = _name(kid)
        if name is None:
            continue
        if name == "/TH":
            attributes = kid.get("/A")
            if not isinstance(attributes, pikepdf.Dictionary):
                attributes = kid.A = pikepdf.Dictionary(O=pikepdf.Name.Table)
            if "/Scope" not in attributes:
                attributes.Scope = pikepdf.Name.Column if in_head else pikepdf.Name.Row
        elif name not in _NO_TABLES:
            _scope_headers(kid, in_head or name == "/THead")


def _kids(element) -> list:
    kids = element.get("/K")
    if kids is None:
        return []
    return list(kids) if isinstance(kids, pikepdf.Array) else [kids]


def _name(element) -> str | None:
    """An element's structure type, or None for what is not a structure element."""
    if not isinstance(element, pikepdf.Dictionary) or "/S" not in element:
        return None
    return str(element.S)


def add_cover(pdf: pikepdf.Pdf, cover, alt: str, tree: _Tree | None) -> None:
    """The cover image (pipeline/cover.py) as a new first page at the book's trim size, filled edge
    to edge; in a tagged PDF a Figure whose alt text says what the cover says."""
    import io
    import zlib

    from PIL import Image

    first = pdf.pages[0].obj
    box = [float(v) for v in first.get("/TrimBox", first.MediaBox)]
    width, height = box[2] - box[0], box[3] - box[1]
    with Image.open(io.BytesIO(cover.data)) as image:
        if cover.media_type == "image/jpeg" and image.mode in ("RGB", "L"):
            data, pixels, filters = cover.data, image.size, pikepdf.Name.DCTDecode
            space = pikepdf.Name.DeviceRGB if image.mode == "RGB" else pikepdf.Name.DeviceGray
        else:
            rgb = image.convert("RGB")
            data, pixels, filters = zlib.compress(rgb.tobytes(), 6), rgb.size, pikepdf.Name.FlateDecode
            space = pikepdf.Name.DeviceRGB
    picture = pdf.make_stream(data, Type=pikepdf.Name.XObject, Subtype=pikepdf.Name.Image, Width=pixels[0],
                              Height=pixels[1], ColorSpace=space, BitsPerComponent=8, Filter=filters)
    # Cover the page, cut to its proportions (as a cover is trimmed), centred.
    scale = max(width / pixels[0], height / pixels[1])
    drawn_w, drawn_h = pixels[0] * scale, pixels[1] * scale
    x, y = (width - drawn_w) / 2, (height - drawn_h) / 2
    draw = f"q 0 0 {width:.3f} {height:.3f} re W n {drawn_w:.3f} 0 0 {drawn_h:.3f} {x:.3f} {y:.3f} cm /Cover Do Q"
    content = f"/Figure <</MCID 0>> BDC {draw} EMC" if tree is not None else draw
    page = pikepdf.Page(pikepdf.Dictionary(
        Type=pikepdf.Name.Page, MediaBox=pikepdf.Array([0, 0, width, height]),
        Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Cover=picture)),
        Contents=pdf.make_stream(content.encode())))
    pdf.pages.insert(0, page)
    if tree is not None:
        new_page = pdf.pages[0].obj
        figure = pdf.make_indirect(pikepdf.Dictionary(
            Type=pikepdf.Name.StructElem, S=pikepdf.Name.Figure, P=tree.document, Pg=new_page,
            K=pikepdf.Array([0]), Alt=pikepdf.String(alt),
            A=pikepdf.Dictionary(O=pikepdf.Name.Layout, BBox=pikepdf.Array([0, 0, width, height]))))
        tree.document.K.insert(0, figure)
        tree.marked[new_page.objgen] = {0: figure}
