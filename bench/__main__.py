"""Run benchmarks and record their results in docs/benchmarks.md."""

from __future__ import annotations

import argparse
import importlib
import platform
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
HEADER = """# Benchmarks

Performance targets live here, never in timed unit tests. Each section is rewritten by the
command it names; numbers are medians and ratios from one run on the project's reference
machine (2 cores, 24 GiB), unless the section says otherwise.
"""


def available() -> list[str]:
    return sorted(p.stem for p in Path(__file__).parent.glob("*.py") if not p.stem.startswith("_"))


def update_doc(name: str, body: str) -> None:
    text = DOC.read_text() if DOC.exists() else HEADER
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    section = f"{start}\n{body.strip()}\n{end}"
    if start in text:
        text = re.sub(
            re.escape(start) + r".*?" + re.escape(end), lambda _m: section, text, flags=re.S
        )
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    DOC.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all: {available()})")
    parser.add_argument("--no-doc", action="store_true", help="print only; don't touch the doc")
    args, extra = parser.parse_known_args()  # extra: flags of the one benchmark named
    names = args.names or available()
    if extra and len(names) != 1:
        parser.error(f"unknown arguments {extra} (flags need exactly one benchmark)")
    for name in (n.replace("-", "_") for n in names):
        module = importlib.import_module(f"bench.{name}")
        if not hasattr(module, "run"):
            continue
        started = time.monotonic()
        body = module.run(extra) if extra else module.run()
        body += (
            f"\n\n_Run {time.strftime('%Y-%m-%d')} on {platform.machine()}, Python "
            f"{platform.python_version()}, in {time.monotonic() - started:.0f} s._"
        )
        sys.stdout.write(body + "\n\n")
        if not args.no_doc:
            update_doc(name, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
