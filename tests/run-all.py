#!/usr/bin/python3
"""Runs berth's whole test suite and ends with one line: `N passed, N failed, N skipped`.

1. Unit tests and bounded fuzz runs (every `meson test` of suites unit and fuzz) in the regular
   build (`build`, warnings as errors) and again in an ASan+UBSan build (`build-asan`).
2. A clang build of everything (`build-clang`, warnings as errors), which counts as one test:
   clang catches what gcc lets through (a goto past a cleanup variable, format attributes).
3. End-to-end tests (pytest, tests/e2e) against the regular build's binaries.
Every cmocka test case counts as one test (TAP output); a program without TAP output counts once.
"""
import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNIT_SUITES = {"unit", "fuzz"}


def build(dirname, asan, clang=False):
    env = dict(os.environ, ASAN="1" if asan else "0", CLANG="1" if clang else "0")
    r = subprocess.run([os.path.join(TOP, "scripts/build.sh"), dirname], cwd=TOP, env=env)
    return r.returncode == 0


def run_meson_tests(builddir, label):
    """Returns (passed, failed, skipped, failures)."""
    out = subprocess.run(["meson", "introspect", "--tests", builddir], cwd=TOP,
                         capture_output=True, text=True, check=True).stdout
    passed = failed = skipped = 0
    failures = []
    for t in json.loads(out):
        if not UNIT_SUITES.intersection(s.split(":")[-1] for s in t.get("suite", [])):
            continue
        env = dict(os.environ)
        env.update(t.get("env") or {})
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        timeout = t.get("timeout") or 300
        if timeout <= 0:
            timeout = 600
        start = time.time()
        try:
            p = subprocess.run(t["cmd"], cwd=t.get("workdir") or builddir, env=env,
                               capture_output=True, text=True, timeout=timeout)
            output, rc = p.stdout + p.stderr, p.returncode
        except subprocess.TimeoutExpired as e:
            output, rc = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or ""), -1
            output += f"\n[timed out after {timeout}s]"
        ok = len(re.findall(r"^ok \d+", output, re.M))
        skip = len(re.findall(r"^ok \d+.*# ?SKIP", output, re.M | re.I))
        bad = len(re.findall(r"^not ok \d+", output, re.M))
        if ok + bad == 0:
            ok, bad = (1, 0) if rc == 0 else (0, 1)
        elif rc != 0 and bad == 0:
            bad = 1  # crashed (e.g. a sanitizer report) after its last TAP line
        passed += ok - skip
        skipped += skip
        failed += bad
        status = "ok" if bad == 0 else "FAIL"
        print(f"[{label}] {t['name']}: {ok - skip} passed, {bad} failed, {skip} skipped "
              f"({time.time() - start:.1f}s) {status}", flush=True)
        if bad:
            failures.append(f"{label}/{t['name']}")
            sys.stdout.write("".join("    " + line + "\n" for line in output.splitlines()[-60:]))
    return passed, failed, skipped, failures


def run_pytest(builddir):
    junit = os.path.join(TOP, builddir, "e2e-junit.xml")
    env = dict(os.environ, BERTH_BUILD=os.path.join(TOP, builddir))
    cmd = ["/usr/bin/python3", "-m", "pytest", "-ra", "-p", "no:cacheprovider",
           f"--junitxml={junit}", os.path.join(TOP, "tests/e2e")]
    if os.environ.get("BERTH_E2E_FILTER"):
        cmd += ["-k", os.environ["BERTH_E2E_FILTER"]]
    p = subprocess.run(cmd, cwd=TOP, env=env)
    if p.returncode == 5 or not os.path.exists(junit):
        return 0, 0, 0, [] if p.returncode in (0, 5) else ["pytest"]
    root = ET.parse(junit).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    total = sum(int(s.get("tests", 0)) for s in suites)
    failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    failures = []
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failures.append(f"e2e/{case.get('classname')}::{case.get('name')}")
    if p.returncode not in (0, 1, 5) and failed == 0:
        failed, failures = 1, ["pytest (internal error)"]
    return total - failed - skipped, failed, skipped, failures


def main():
    start = time.time()
    totals = [0, 0, 0]
    failures = []
    for builddir, asan, label in (("build", False, "unit"), ("build-asan", True, "unit-asan")):
        if not build(builddir, asan):
            totals[1] += 1
            failures.append(f"build of {builddir}")
            continue
        p, f, s, fl = run_meson_tests(builddir, label)
        totals = [totals[0] + p, totals[1] + f, totals[2] + s]
        failures += fl
    if build("build-clang", False, clang=True):
        totals[0] += 1
    else:
        totals[1] += 1
        failures.append("build of build-clang (clang, warnings as errors)")
    if os.path.exists(os.path.join(TOP, "build")):
        p, f, s, fl = run_pytest("build")
        totals = [totals[0] + p, totals[1] + f, totals[2] + s]
        failures += fl
    for name in failures:
        print(f"FAILED: {name}")
    print(f"suite time: {time.time() - start:.0f}s")
    print(f"{totals[0]} passed, {totals[1]} failed, {totals[2]} skipped")
    return 1 if totals[1] else 0


if __name__ == "__main__":
    sys.exit(main())
