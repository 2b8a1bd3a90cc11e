#!/usr/bin/env python3
"""Fails when a test was skipped for a reason not on tests/skip_allowlist.txt.

A skipped test checks nothing, and a suite that skips silently can stay green while the thing it
guards breaks (a missing fixture, a missing tool, a build without the engine). CI calls this after
`make test` with the JUnit files CTest and pytest wrote; every skip is printed, and any skip that
no allow-list line matches fails the run.

Allow-list format: one rule per line, `<test id regex> :: <reason regex>` (Python `re.search`),
`#` comments. Test ids are `suite.name` for CTest (GoogleTest) and `path::name[param]` for pytest.

Usage: tools/check_skips.py [--allowlist FILE] JUNIT.xml...
"""
from __future__ import annotations

import argparse
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load_rules(path: Path) -> list[tuple[re.Pattern, re.Pattern, str]]:
    rules = []
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if " :: " not in line:
            raise SystemExit(f"{path}:{n}: expected `<test id regex> :: <reason regex>`")
        test, reason = line.split(" :: ", 1)
        rules.append((re.compile(test.strip()), re.compile(reason.strip()), line))
    return rules


def skips(junit: Path) -> list[tuple[str, str]]:
    """(test id, reason) of every skipped test case in a JUnit XML file (pytest's or CTest's)."""
    root = ET.parse(junit).getroot()
    is_pytest = any(s.get("name") == "pytest" for s in root.iter("testsuite"))
    out = []
    for case in root.iter("testcase"):
        skipped = case.find("skipped")
        if skipped is None and case.get("status") not in ("notrun", "disabled"):
            continue
        classname, name = case.get("classname", ""), case.get("name", "")
        if is_pytest:  # classname: tests.serve.test_x[.Class]; name: test_y[param]
            parts = classname.split(".")
            while parts and not parts[-1].startswith("test_"):
                parts.pop()  # a class name: keep the module path only
            test_id = "/".join(parts) + ".py::" + name if parts else f"{classname}::{name}"
        else:
            test_id = name
        reason = (skipped.get("message", "") if skipped is not None else "").strip()
        if not reason or reason == "SKIP_REGULAR_EXPRESSION_MATCHED":
            # CTest: GoogleTest printed "file:line: Skipped" and the reason on the next line
            m = re.search(r"Skipped\s*\n(.*)", case.findtext("system-out") or "")
            reason = m.group(1).strip() if m and m.group(1).strip() else "skipped"
        out.append((test_id, " ".join(reason.split())))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--allowlist", type=Path, default=REPO / "tests" / "skip_allowlist.txt")
    ap.add_argument("junit", type=Path, nargs="+")
    args = ap.parse_args()
    rules = load_rules(args.allowlist)
    found, bad = 0, []
    for junit in args.junit:
        if not junit.is_file():
            print(f"check_skips: {junit} not found (did the test run write it?)", file=sys.stderr)
            return 1
        for test_id, reason in skips(junit):
            found += 1
            allowed = next((r for t, rr, r in rules if t.search(test_id) and rr.search(reason)),
                           None)
            mark = "allowed" if allowed else "NOT ALLOWED"
            print(f"skip [{mark}] {test_id}: {reason}")
            if not allowed:
                bad.append(test_id)
    print(f"check_skips: {found} skipped, {len(bad)} not on {args.allowlist.name}")
    if bad:
        print("check_skips: a skipped test checks nothing. Make it run (install what it needs in "
              ".ci/run or deps/), or add a rule with the reason to the allow-list.",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
