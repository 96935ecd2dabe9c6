#!/bin/sh
# Makes the golden files of transient-image's tests (tests/golden/*.txt) by running the real
# transient 0.25 (`cargo xtask setup` installs it in the peers' virtual environment) on the
# fixture of fixture.sh, made afresh for every case. tests/it/golden.rs runs transient-image on
# the same fixture and compares.
#
# Each golden file is one or more commands, each as
#
#     $ transient image ARGS   (an argument with a space in quotes; --image-backend and
#                              --vmstore, always given, left out)
#     exit: CODE
#     --- stdout
#     ...
#     --- stderr
#     ...
#
# normalised as the tests normalise strata's output: the FutureWarning lines that
# transient's table library prints on every run are dropped, warning dates become
# YYYY-MM-DD HH:MM:SS, and the rows of an `ls` table are sorted by name (transient prints them
# in directory order, which the filesystem picks; transient-image sorts them).
#
# Usage: make-goldens.sh   (TRANSIENT=path/to/transient to use another one)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
transient=${TRANSIENT:-${XDG_CACHE_HOME:-$HOME/.cache}/strata/peer-venv/bin/transient}
"$transient" --version >/dev/null 2>&1 || {
    echo "$0: $transient does not run (cargo xtask setup installs it)" >&2
    exit 1
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export LC_ALL=C TZ=UTC

# fresh: a new fixture for the next case.
fresh() {
    rm -rf "$work/fx"
    sh "$here/fixture.sh" "$work/fx"
}

# run GOLDEN ARGS...: appends `transient image ARGS` and what it did to GOLDEN.
run() {
    golden=$1
    shift
    line='$ transient image'
    for arg; do
        case $arg in
        *' '*) line="$line '$arg'" ;;
        *) line="$line $arg" ;;
        esac
    done
    printf '%s\n' "$line" >>"$golden"
    code=0
    "$transient" image "$@" --image-backend "$work/fx/backend" --vmstore "$work/fx/vmstore" \
        >"$work/out" 2>"$work/err" || code=$?
    printf 'exit: %s\n--- stdout\n' "$code" >>"$golden"
    if head -n 1 "$work/out" | grep -q '^ NAME '; then
        head -n 1 "$work/out" >>"$golden"
        tail -n +2 "$work/out" | sort >>"$golden"
    else
        cat "$work/out" >>"$golden"
    fi
    printf -- '--- stderr\n' >>"$golden"
    grep -v -e 'FutureWarning' -e '^  warnings.warn(' "$work/err" |
        sed -E 's/^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}:/YYYY-MM-DD HH:MM:SS:/' \
            >>"$golden" || true
}

# case NAME: starts golden file NAME.txt on a fresh fixture.
case_() {
    golden=$here/$1.txt
    : >"$golden"
    fresh
}

case_ ls
run "$golden" ls

case_ ls-empty
find "$work/fx/backend" -maxdepth 1 -type f -delete
run "$golden" ls

case_ rm-missing
run "$golden" rm nope

case_ rm-in-use
run "$golden" rm my-img
run "$golden" rm centos/7:2004.01

case_ rm-force
run "$golden" rm -f my-img
run "$golden" ls

case_ rm-several
run "$golden" rm tiny 'with space' .hidden
run "$golden" ls

# transient removes the names before a missing one; transient-image removes none.
case_ rm-missing-after-one
run "$golden" rm tiny nope
run "$golden" ls

echo "goldens written in $here" >&2
