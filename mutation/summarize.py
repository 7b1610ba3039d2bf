"""Summarize a mutmut 3 run (run in the folder holding ``mutants/``): the score per module and
function, and every surviving mutant's diff. Used by ``mutation/run.sh``.

An optional argument names a file of reasons (``mutation/<set>-equivalent.txt``): one
``<mutant name>: <why it is equivalent>`` per line (``#`` starts a comment). Each survivor is
printed with its reason, or marked ``NOT ARGUED``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

from mutmut.stats import status_by_exit_code

NAME_RE = re.compile(r"^(?P<module>[\w.]+?)\.x_?(?P<func>.+)__mutmut_\d+$")


def function_of(name: str) -> tuple[str, str]:
    """(module, function) of a mutant name (methods are ``xǁClassǁmethod``)."""
    m = NAME_RE.match(name)
    if not m:
        return name.rsplit(".", 1)[0], "?"
    return m["module"], m["func"].replace("ǁ", ".").strip(".")


def read_reasons(path: str | None) -> dict[str, str]:
    """Mutant name -> why it is equivalent, from ``path`` (if given and present)."""
    if not path or not Path(path).is_file():
        return {}
    out = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, why = line.partition(": ")
            out[name.strip()] = why.strip()
    return out


def main() -> int:
    reasons = read_reasons(sys.argv[1] if len(sys.argv) > 1 else None)
    by_module: dict[str, Counter] = defaultdict(Counter)
    by_function: dict[tuple[str, str], Counter] = defaultdict(Counter)
    survivors: list[tuple[str, str]] = []
    for meta in sorted(Path("mutants").rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        for name, code in codes.items():
            status = status_by_exit_code[code]
            module, func = function_of(name)
            by_module[module][status] += 1
            by_function[module, func][status] += 1
            if status not in ("killed", "timeout", "caught by type check"):
                survivors.append((name, status))

    def score(c: Counter) -> str:
        tested = sum(c.values()) - c["skipped"]
        kills = c["killed"] + c["timeout"] + c["caught by type check"]
        pct = 100 * kills / tested if tested else float("nan")
        rest = ", ".join(f"{k} {v}" for k, v in sorted(c.items()) if k != "killed")
        return f"{kills}/{tested} killed ({pct:.1f}%){'; ' + rest if rest else ''}"

    print("\nmutation score per module")
    total: Counter = Counter()
    for module, c in sorted(by_module.items()):
        total += c
        print(f"  {module:22} {score(c)}")
    print(f"  {'all':22} {score(total)}")
    print("\nfunctions with survivors")
    for (module, func), c in sorted(by_function.items()):
        if sum(v for k, v in c.items() if k not in ("killed", "timeout")):
            print(f"  {module}.{func}: {score(c)}")
    argued = sum(name in reasons for name, _ in survivors)
    print(f"\n{len(survivors)} mutants not killed" + (f" ({argued} argued)" if reasons else ""))
    for name, status in survivors:
        shown = subprocess.run(
            [sys.executable, "-m", "mutmut", "show", name], capture_output=True, text=True
        ).stdout
        diff = [ln for ln in shown.splitlines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---")]
        print(f"\n{name} ({status})")
        print("\n".join(f"    {ln}" for ln in diff))
        if reasons:
            print(f"    why: {reasons.get(name, 'NOT ARGUED')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
