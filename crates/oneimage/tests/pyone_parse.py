#!/usr/bin/env python3
"""Parse OpenNebula XML documents with pyone's bindings and print a JSON summary.

Usage: pyone_parse.py FILE...

Each FILE holds one document as `oneimage show -x`, `oneimage list -x`, `onedatastore show -x`
or `onedatastore list -x` prints it (or oned's compact form). pyone (7.3.80) parses it with
`pyone.bindings.parseString`, whose classes are generated from OpenNebula's XSDs: a document
that does not fit them, or an integer field that is not an integer, raises and the script exits
non-zero. The summary names, per file, the root class and, per object, its id, name, state,
number of snapshots and template keys.

Run by `tests/it/pyone.rs` with the peer venv's Python (`cargo xtask setup` installs pyone there).
"""

import json
import sys

import pyone.bindings


def template_keys(template):
    """The keys of a TEMPLATE, which pyone turns into an ordered dict (or None when empty)."""
    if template is None:
        return []
    if isinstance(template, dict):
        return list(template.keys())
    return sorted(k for k in vars(template) if not k.startswith("_"))


def summarise_image(image):
    snapshots = image.SNAPSHOTS.SNAPSHOT if image.SNAPSHOTS is not None else []
    return {
        "ID": image.ID,
        "NAME": image.NAME,
        "STATE": image.STATE,
        "TYPE": image.TYPE,
        "LOCKED": image.LOCK.LOCKED if image.LOCK is not None else None,
        "SNAPSHOTS": len(snapshots),
        "ACTIVE_SNAPSHOT": [s.ID for s in snapshots if s.ACTIVE == "YES"],
        "VMS": list(image.VMS.ID) if image.VMS is not None else [],
        "TEMPLATE": template_keys(image.TEMPLATE),
    }


def summarise_datastore(ds):
    return {
        "ID": ds.ID,
        "NAME": ds.NAME,
        "STATE": ds.STATE,
        "TYPE": ds.TYPE,
        "TOTAL_MB": ds.TOTAL_MB,
        "IMAGES": list(ds.IMAGES.ID) if ds.IMAGES is not None else [],
        "CLUSTERS": list(ds.CLUSTERS.ID) if ds.CLUSTERS is not None else [],
        "TEMPLATE": template_keys(ds.TEMPLATE),
    }


def summarise(obj):
    # pyone's generateDS classes come as `IMAGESub` and the like, subclasses of `IMAGE`.
    root = type(obj).__name__.removesuffix("Sub")
    if root == "IMAGE":
        objects = [summarise_image(obj)]
    elif root == "IMAGE_POOL":
        objects = [summarise_image(i) for i in obj.IMAGE]
    elif root == "DATASTORE":
        objects = [summarise_datastore(obj)]
    elif root == "DATASTORE_POOL":
        objects = [summarise_datastore(d) for d in obj.DATASTORE]
    else:
        raise SystemExit(f"unexpected root class {root}")
    return {"root": root, "objects": objects}


def main(paths):
    if not paths:
        raise SystemExit(__doc__)
    out = {}
    for path in paths:
        with open(path, "rb") as f:
            out[path] = summarise(pyone.bindings.parseString(f.read(), silence=True))
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
