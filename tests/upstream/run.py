"""Run Transformers' common model tests on the upstream classes and on the MSD classes of each family, and compare.

Usage: `python tests/upstream/run.py [FAMILY ...]` (default: every family of `model_tests.FAMILIES`); run it through
`bash scripts/run-upstream-tests.sh`, which sets up the environment first.

The tests come from the source distribution of the installed Transformers (`pip download --no-deps --no-binary :all:
transformers==<version>`; the wheel has none), kept in `MSD_UPSTREAM_CACHE` (default `.cache/upstream-tests/` in the
repository, git-ignored) after the first run. Each family runs twice in pytest (`tests/upstream/model_tests.py`),
with upstream's classes and with the MSD classes, offline (`HF_HUB_OFFLINE=1`: tests that need the Hub skip), in
`MSD_TEST_WORKERS` worker processes (default: one per core up to 4). One table per family follows: passed / failed /
skipped for each, and the tests that pass upstream but fail for MSD. The exit status is 1 when there is any such
test, 0 otherwise.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import transformers

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_tests import FAMILIES, MSD_SKIPS  # noqa: E402

IMPLS = ("upstream", "msd")


def cache_dir() -> Path:
    """Where the source distribution and the results are kept."""
    return Path(os.environ.get("MSD_UPSTREAM_CACHE", ROOT / ".cache" / "upstream-tests"))


def fetch_tests(version: str = transformers.__version__) -> Path:
    """The `tests/` folder of Transformers `version`'s source distribution, downloaded with pip once and unpacked."""
    cache = cache_dir()
    tests_dir = cache / f"transformers-{version}" / "tests"
    if (tests_dir / "test_modeling_common.py").is_file():
        return tests_dir
    archive = cache / f"transformers-{version}.tar.gz"
    if not archive.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        print(f"[upstream-tests] downloading the source distribution of transformers=={version}", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q"]
            + ["--disable-pip-version-check", f"transformers=={version}", "-d", str(cache)],
            check=True,
        )
    prefix = f"transformers-{version}/tests/"
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(prefix) and (m.isfile() or m.isdir())]
        tar.extractall(cache, members=members, filter="data")
    return tests_dir


def run_family(family: str, impl: str, tests_dir: Path, workers: int) -> tuple[dict[str, str], float]:
    """`{test name: "passed" | "failed" | "skipped"}` of one family with one implementation, and the seconds taken."""
    report = cache_dir() / "results" / f"{family}-{impl}.xml"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.unlink(missing_ok=True)
    env = dict(
        os.environ,
        MSD_UPSTREAM_TESTS=str(tests_dir),
        MSD_UPSTREAM_FAMILY=family,
        MSD_UPSTREAM_IMPL=impl,
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    command = [sys.executable, "-m", "pytest", str(ROOT / "tests" / "upstream" / "model_tests.py"), "-q", "-p"]
    command += ["no:warnings", f"--junitxml={report}", "-o", "junit_family=xunit1"]
    command += ["-n", str(workers)] if workers > 0 else ["-p", "no:xdist"]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.perf_counter() - start
    if result.returncode not in (0, 1) or not report.is_file():
        print(result.stdout[-5000:])
        raise RuntimeError(f"pytest could not run the {impl} tests of {family} (exit status {result.returncode})")
    return outcomes(report), seconds


def outcomes(report: Path) -> dict[str, str]:
    """The outcome of each test case of a JUnit XML report."""
    results = {}
    for case in ET.parse(report).iter("testcase"):
        kinds = {child.tag for child in case}
        outcome = "failed" if kinds & {"failure", "error"} else "skipped" if "skipped" in kinds else "passed"
        name = case.get("name")
        # An error in teardown adds a second case of the same name: a failure wins.
        results[name] = "failed" if results.get(name) == "failed" else outcome
    return results


def table(family: str, results: dict[str, dict[str, str]], seconds: dict[str, float]) -> tuple[str, list[str]]:
    """The family's table, and the tests that pass upstream and fail for MSD."""
    lines = [f"{family} (transformers {transformers.__version__})", f"{'':10}{'passed':>8}{'failed':>8}{'skipped':>9}"]
    for impl in IMPLS:
        counts = [sum(o == kind for o in results[impl].values()) for kind in ("passed", "failed", "skipped")]
        lines.append(f"{impl:10}{counts[0]:>8}{counts[1]:>8}{counts[2]:>9}   {seconds[impl]:.0f} s")
    # A test skipped for MSD by its own logic (not by MSD_SKIPS) where upstream runs it is as broken as a failure.
    broken = sorted(
        test
        for test, outcome in results["upstream"].items()
        if outcome == "passed" and results["msd"].get(test) != "passed" and (family, test) not in MSD_SKIPS
    )
    lines.append(f"pass upstream, not for MSD: {', '.join(broken) or 'none'}")
    by_design = sorted(t for f, t in MSD_SKIPS if f == family and results["upstream"].get(t) == "passed")
    if by_design:
        lines.append(f"skipped for MSD by design (tests/README.md): {', '.join(by_design)}")
    return "\n".join(lines), broken


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("families", nargs="*", metavar="FAMILY", help=f"default: all ({', '.join(FAMILIES)})")
    args = parser.parse_args(argv)
    unknown = [f for f in args.families if f not in FAMILIES]
    if unknown:
        parser.error(f"unknown family {', '.join(map(repr, unknown))}; choose from {', '.join(FAMILIES)}")
    cores = os.cpu_count() or 1
    workers = int(os.environ.get("MSD_TEST_WORKERS", min(cores, 4)))
    tests_dir = fetch_tests()
    failed = False
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    for family in args.families or list(FAMILIES):
        results, seconds = {}, {}
        try:
            for impl in IMPLS:
                results[impl], seconds[impl] = run_family(family, impl, tests_dir, workers)
        except RuntimeError as error:
            print(f"{family}: {error}\n", flush=True)
            failed = True
            continue
        text, broken = table(family, results, seconds)
        print(text + "\n", flush=True)
        failed = failed or bool(broken)
        for outcome in results["msd"].values():
            totals[outcome] += 1
    # The closing line: the MSD runs' counts, all families together.
    print(f"msd: {totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
