#!/usr/bin/env python3
"""Regenerates the pcocc and transient golden files by running the original table code.

Usage: generate.py PCOCC_CHECKOUT BEAUTIFULTABLE_CHECKOUT
  PCOCC_CHECKOUT           cea-hpc/pcocc at v0.7.5 (for lib/pcocc/scripts/Shine/TextTable.py)
  BEAUTIFULTABLE_CHECKOUT  pri22296/beautifultable at v1.0.1 (transient requires ~=1.0.0;
                           needs the wcwidth module)

Each case below is rendered with the original code and written to <tool>/<case>.txt exactly as
`print(table)` writes it. The OpenNebula goldens come from one_harness.rb.
"""
import json
import os
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(sys.argv[1], "lib/pcocc/scripts/Shine"))
sys.path.insert(0, sys.argv[2])
warnings.simplefilter("ignore")

from TextTable import TextTable  # noqa: E402
import beautifultable  # noqa: E402

with open(os.path.join(HERE, "cases.json")) as f:
    CASES = json.load(f)

for name, case in CASES["pcocc"].items():
    tbl = TextTable(" ".join("%" + key for key, _ in case["columns"]))
    tbl.header_labels = {key: label for key, label in case["columns"] if label != key}
    for row in case["rows"]:
        tbl.append(dict(zip((key for key, _ in case["columns"]), row)))
    with open(os.path.join(HERE, "pcocc", name + ".txt"), "w") as out:
        out.write(str(tbl) + "\n")

B = beautifultable.BeautifulTable
ALIGN = {"left": B.ALIGN_LEFT, "right": B.ALIGN_RIGHT, "center": B.ALIGN_CENTER}
for name, case in CASES["transient"].items():
    # As transient/cli.py `image_ls_impl` builds it.
    table = B(max_width=1000)
    table.column_headers = [header for header, _ in case["columns"]]
    table.set_style(B.STYLE_NONE)
    for header, align in case["columns"]:
        table.column_alignments[header] = ALIGN[align]
    for row in case["rows"]:
        table.append_row(row)
    with open(os.path.join(HERE, "transient", name + ".txt"), "w") as out:
        out.write(str(table) + "\n")
