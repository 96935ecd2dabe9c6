#!/usr/bin/env bash
# Writes transient-0.25.json: what transient 0.25's own code makes of a set of Imagefiles, for
# the tests of strata-build (tests/it/golden.rs) to compare strata's parser with.
#
#   make-goldens.sh [PYTHON]
#
# PYTHON is a python3 whose environment has transient 0.25 (default: $TRANSIENT_PYTHON, else
# the peers' virtual environment of `cargo xtask setup`, ~/.cache/strata/peer-venv). To make
# one: python3 -m venv /tmp/tv && /tmp/tv/bin/pip install transient==0.25
#
# No VM is booted and nothing is fetched: for each Imagefile the script runs transient's
# `ImageBuilder.__init__` (transient/build.py), which reads the file (`open(path, "r")`, so in
# Python's text mode), parses it with `IMAGEFILE_PARSER` (Lark, LALR), builds the instruction
# objects and runs `__validate`; then, if that passed, `__print_step` for every instruction,
# and for a FROM that is not scratch `store.ImageSpec(source)`, which `retrieve_image` runs
# first when the build starts. Each case records:
#
#   {"outcome": "ok", "steps": ["Step 1/3 : FROM ...", ...], "spec_error": null | "..."}
#   {"outcome": "syntax", "lark": "UnexpectedCharacters" | "UnexpectedToken",
#    "line": L, "column": C, "token_type": "RUN_CMD" | "$END" | ... | null, "found": "..."}
#   {"outcome": "error", "message": "..."}              (a RuntimeError: the rules, formats)
#   {"outcome": "exception", "type": "...", "message": "..."}      (anything else)
#
# The cases are every file of cases/ (named after what they check; `deviation-*` are where
# strata refuses what transient reads, see the module documentation of `imagefile`), a few
# inline ones whose bytes matter (line ends, form feeds), and generated ones: Imagefiles of
# every instruction, in mixed case and spacing, with comments and continuations, then
# mutated (a character dropped, a token inserted, lines swapped), from a fixed seed, so the
# output is the same on every run.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
python="${1:-${TRANSIENT_PYTHON:-${XDG_CACHE_HOME:-$HOME/.cache}/strata/peer-venv/bin/python3}}"

PYTHONUTF8=1 PYTHONHASHSEED=0 "$python" - "$here" <<'PY'
import contextlib
import io
import json
import os
import random
import sys
import tempfile
import types
from importlib.metadata import version

import lark
from transient import build, store, utils

here = sys.argv[1]
if version("transient") != "0.25":
    sys.exit(f"transient {version('transient')} found; the goldens are made with 0.25")


def run(text):
    """What transient does with an Imagefile of this text, up to the start of the build."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "Imagefile")
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        config = types.SimpleNamespace(file=path, build_dir=tmp)
        try:
            builder = build.ImageBuilder(config, None)
        except lark.exceptions.UnexpectedCharacters as e:
            return {"outcome": "syntax", "lark": "UnexpectedCharacters", "line": e.line,
                    "column": e.column, "token_type": None,
                    "found": (text + "\n")[e.pos_in_stream]}
        except lark.exceptions.UnexpectedToken as e:
            return {"outcome": "syntax", "lark": "UnexpectedToken", "line": e.line,
                    "column": e.column, "token_type": e.token.type, "found": e.token.value}
        except RuntimeError as e:
            return {"outcome": "error", "message": str(e)}
        except Exception as e:  # noqa: BLE001 - recorded, not hidden
            return {"outcome": "exception", "type": type(e).__name__, "message": str(e)}
    steps = []
    for instruction in builder.instructions:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            builder._ImageBuilder__print_step(instruction)
        steps.append(out.getvalue().rstrip("\n"))
    spec_error = None
    source = builder.from_instruction.source
    if source.lower() != "scratch":
        try:
            store.ImageSpec(source)
        except utils.TransientError as e:
            spec_error = str(e)
    return {"outcome": "ok", "steps": steps, "spec_error": spec_error}


cases = {}
for name in sorted(os.listdir(os.path.join(here, "cases"))):
    if name.endswith(".Imagefile"):
        with open(os.path.join(here, "cases", name), encoding="utf-8", newline="") as f:
            cases[name[: -len(".Imagefile")]] = f.read()

# Inline: bytes that an editor or git might change in a file.
cases.update({
    "inline-crlf-line-ends": "FROM scratch\r\nDISK 1 GB GPT\r\nPARTITION 1 MOUNT /\r\nRUN ls \\\r\n  -l\r\n",
    "inline-cr-line-ends": "FROM base\rRUN ls\rINSPECT\r",
    "inline-form-feed-in-continuation": "FROM base\nRUN a \\\x0c \n b\n",
    "inline-form-feed-is-not-a-blank": "FROM base\nINSPECT\x0c\n",
    "inline-form-feed-after-backslash-in-run": "FROM base\nRUN a \\\x0c\n",
    "inline-nbsp-in-path": "FROM base\nCOPY a\u00a0b c\n",
    "inline-only-a-continuation": "\\",
    "inline-only-a-comment": "# nothing\n",
    "inline-tab-separated": "FROM\tscratch\nDISK\t1\tGB\tGPT\nPARTITION\t1\tMOUNT\t/\nCOPY\ta\tb\n",
})

# Generated.
rng = random.Random(25)
WORDS = ["a", "b/c", "/etc", "#x", "x.tar.gz", "é", "a=b", "a,b", "\"q\"", "-", "'s'", "$HOME"]


def spell(keyword):
    """A keyword in random case, sometimes glued to what follows."""
    return "".join(c.lower() if rng.random() < 0.3 else c for c in keyword)


def blank():
    return rng.choice([" ", " ", "  ", "\t", " \\\n ", " \\ \n\t", " "])


def size():
    return f"{rng.randint(0, 99999)}{blank() if rng.random() < 0.8 else ''}" + spell(rng.choice(["MB", "GB", "mb", "Gb"]))


def partition(n, root):
    parts = [spell("PARTITION"), str(n)]
    if rng.random() < 0.5:
        parts += [spell("SIZE"), size()]
    if rng.random() < 0.6:
        parts += [spell("FORMAT"), rng.choice(["ext2", "ext3", "EXT4", "xfs", "btrfs"])]
        if rng.random() < 0.4:
            parts += [spell("OPTIONS"), rng.choice(['"-L root"', '""', '"-m 0"'])]
    if root or rng.random() < 0.5:
        parts += [spell("MOUNT"), "/" if root else rng.choice(["/boot", "/var", "//"])]
    if rng.random() < 0.4:
        flags = [spell(rng.choice(["boot", "efi", "bios_grub"])) for _ in range(rng.randint(1, 3))]
        parts += [spell("FLAGS"), rng.choice([",", ", ", " ,"]).join(flags)]
    return blank().join(parts)


def step():
    kind = rng.choice(["RUN", "COPY", "ADD", "INSPECT"])
    if kind == "RUN":
        return spell("RUN") + rng.choice([" ", "\t", "  ", ""]) + rng.choice(
            ["ls -l", "echo a # b", "a \\\n  b", "printf '\\n'", "x\\\\", "true   "])
    if kind == "INSPECT":
        return spell("INSPECT") + rng.choice(["", " # c", "  "])
    paths = [rng.choice(WORDS) for _ in range(rng.randint(2, 4))]
    return spell(kind) + " " + blank().join(paths)


def imagefile():
    lines = []
    if rng.random() < 0.5:
        lines += [spell("FROM") + " " + spell("scratch"), spell("DISK") + " " + size() + " " + spell(rng.choice(["GPT", "MBR"]))]
        count = rng.randint(1, 3)
        root = rng.randrange(count)
        lines += [partition(n + 1, n == root) for n in range(count)]
    else:
        lines.append(spell("FROM") + " " + rng.choice(["base", "centos/7:2004.01", "a,file=/x", "a,https=u", "a,ftp=x", "a,b"]))
    lines += [step() for _ in range(rng.randint(0, 4))]
    for _ in range(rng.randint(0, 2)):
        lines.insert(rng.randint(0, len(lines)), rng.choice(["", "# comment", "   ", "\t# c"]))
    return "\n".join(lines) + rng.choice(["\n", "", "\n\n"])


def mutate(text):
    i = rng.randrange(len(text) + 1)
    what = rng.random()
    if what < 0.35 and i < len(text):
        return text[:i] + text[i + 1:]
    if what < 0.8:
        token = rng.choice([" ", "\t", "\\\n", "\\", "#", "\"", ",", "=", "/", "1", "MB", "x",
                            "\n", "FROM a", "\r\n", "\r", "\x0c", "\u00a0", "é", "RUN", "boot"])
        return text[:i] + token + text[i:]
    lines = text.split("\n")
    a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[a], lines[b] = lines[b], lines[a]
    return "\n".join(lines)


for n in range(240):
    text = imagefile()
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
        text = mutate(text)
    cases[f"generated-{n:03}"] = text

golden = {
    "made_by": "crates/strata-build/tests/golden/make-goldens.sh",
    "transient": version("transient"),
    "lark-parser": version("lark-parser"),
    "cases": {name: {"input": text, **run(text)} for name, text in cases.items()},
}
with open(os.path.join(here, "transient-0.25.json"), "w", encoding="utf-8") as f:
    json.dump(golden, f, indent=1, ensure_ascii=True, sort_keys=False)
    f.write("\n")
outcomes = [c["outcome"] for c in golden["cases"].values()]
print(f"{len(outcomes)} cases: " + ", ".join(f"{o} {outcomes.count(o)}" for o in sorted(set(outcomes))))
PY
