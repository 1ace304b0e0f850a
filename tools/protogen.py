"""Generate Python code for protos/ into gen/, or check that gen/ is up to date.

One entry point so that `make proto` and the staleness check in `make test` can never disagree
about flags or include paths.
"""

from __future__ import annotations

import argparse
import filecmp
import importlib.resources
import sys
import tempfile
from pathlib import Path

from google.api import annotations_pb2
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"


def _include_dirs() -> list[str]:
    """protos/, the well-known types shipped with grpcio-tools, and googleapis' protos."""
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    googleapis = Path(annotations_pb2.__file__).parents[2]
    return [str(PROTO_ROOT), str(well_known), str(googleapis)]


def generate(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    args = ["grpc_tools.protoc", *(f"-I{d}" for d in _include_dirs())]
    args += [f"--python_out={out_dir}", f"--pyi_out={out_dir}", f"--grpc_python_out={out_dir}", *sources]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


def _tree(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def check(gen_dir: Path) -> list[str]:
    """Names of files that differ between gen_dir and a fresh generation."""
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch)
        generate(fresh)
        expected, actual = _tree(fresh), _tree(gen_dir)
        stale = sorted(expected ^ actual)
        stale += sorted(n for n in expected & actual if not filecmp.cmp(fresh / n, gen_dir / n, shallow=False))
        return stale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path, help="output directory, normally gen/")
    parser.add_argument("--check", action="store_true", help="fail if the directory is stale")
    options = parser.parse_args()
    if not options.check:
        generate(options.out)
        return
    stale = check(options.out)
    if stale:
        print("gen/ is stale against protos/ (run `make proto`):", *stale, sep="\n  ", file=sys.stderr)
        raise SystemExit(1)
    print("gen/ is up to date")


if __name__ == "__main__":
    main()
