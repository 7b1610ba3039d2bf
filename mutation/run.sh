#!/usr/bin/env bash
# Mutation testing of the logic modules with mutmut 3, one test process at a time, in a scratch
# copy of the project: the source tree is never mutated and no mutants/ folder is left in it.
#
#   mutation/run.sh skill         # questions, links, scoring, backtest planning (mutation/skill.cfg)
#   mutation/run.sh storage       # errors, inputs, append, store, files (storage.cfg)
#   KEEP=1 mutation/run.sh storage   # keep the scratch copy (to `mutmut show <mutant>` there)
#
# Writes the score per module and the survivors (with the reasons in <set>-equivalent.txt) to
# mutation/<set>-results.txt. Uses the project's virtualenv (.venv) if there is one; needs
# mutmut 3 (pip install "mutmut>=3").
set -euo pipefail
set_name="${1:?usage: mutation/run.sh skill|storage}"
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
cfg="$here/$set_name.cfg"
[ -f "$cfg" ] || { echo "no $cfg" >&2; exit 2; }
py="${PYTHON:-$repo/.venv/bin/python}"
[ -x "$py" ] || py=python3
work="$(mktemp -d "${TMPDIR:-/tmp}/mutmut-$set_name-XXXXXX")"
cleanup() { if [ -z "${KEEP:-}" ]; then rm -rf "$work"; fi; }
trap cleanup EXIT

# The copy: <work>/main holds the project; <work>/shared points at ../shared (the dev questions),
# so tests that look for ../shared/data find it from the copy as from the project.
mkdir -p "$work/main"
cp -a "$repo/forecast" "$repo/tests" "$repo/priors" "$repo/data" "$repo/pyproject.toml" "$work/main/"
find "$work/main" -name __pycache__ -prune -exec rm -rf {} +
cp "$cfg" "$work/main/setup.cfg"
[ -e "$work/shared" ] || [ ! -d "$repo/../shared" ] || ln -s "$(cd "$repo/.." && pwd)/shared" "$work/shared"
# mutmut reads [tool.mutmut] from pyproject.toml before setup.cfg: make sure the copy has none.
if grep -q '^\[tool\.mutmut\]' "$work/main/pyproject.toml"; then
    echo "pyproject.toml has a [tool.mutmut] table: it would override $cfg" >&2
    exit 2
fi

cd "$work/main"
echo "scratch copy: $work/main"
export HYPOTHESIS_PROFILE=ci
# --max-children 1: one test process at a time (the machine is shared).
nice -n 10 "$py" -m mutmut run --max-children 1 | tail -n 5
# <set>-equivalent.txt (if any) holds why each survivor is equivalent; summarize prints it.
"$py" "$here/summarize.py" "$here/$set_name-equivalent.txt" | tee "$here/$set_name-results.txt"
