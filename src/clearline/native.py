"""Compiled hot paths: the same Python source, compiled with mypyc, used only when it is current.

Guarantees:
- One source. A module in `NATIVE_MODULES` is ordinary, type-annotated Python; `build()` compiles
  that very file with mypyc (the compiler that ships with mypy) into a C extension beside it, and
  records the SHA-256 of the source it compiled in `<module>.native-sha256`. Nothing is written
  by hand in C, so the Python and the compiled module cannot disagree in what they compute
  (tested: feature vectors from both are equal on a simulated stream).
- Never stale. `load(name)` (called by the package that owns the module, before anything imports
  it) uses the extension only when its recorded hash equals the source's current hash; when the
  source changed after the build, or `CLEARLINE_NATIVE=0` is set, it loads the Python source
  instead, so an edit can never be shadowed by an old build. A stale build is said once, with
  the command that rebuilds it.
- Optional. Without a C compiler (or mypyc) the build fails with a clear message and the
  platform runs the Python source, only slower: `make` builds it when it can.

Run `python -m clearline.native` to build, `python -m clearline.native --status` to see what
each module runs as.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import warnings
from pathlib import Path
from types import ModuleType

NATIVE_MODULES = ("clearline.risk.features",)
"""Modules compiled by `build()`: the per-event risk features (batch scoring's critical path)."""
STAMP_SUFFIX = ".native-sha256"
ENVIRONMENT_SWITCH = "CLEARLINE_NATIVE"
"""Set to 0 to run every module from its Python source."""
BUILD_TIMEOUT_S = 600
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def source_path(name: str) -> Path:
    return PACKAGE_ROOT.joinpath(*name.split(".")).with_suffix(".py")


def stamp_path(name: str) -> Path:
    source = source_path(name)
    return source.with_name(source.stem + STAMP_SUFFIX)


def extension_paths(name: str) -> list[Path]:
    """The built extension of `name` and mypyc's runtime library beside it, where present."""
    source = source_path(name)
    candidates = (
        source.with_name(source.stem + infix + suffix)
        for infix in ("", "__mypyc")
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
    )
    return [path for path in candidates if path.exists()]


def source_hash(name: str) -> str:
    return hashlib.sha256(source_path(name).read_bytes()).hexdigest()


def status(name: str) -> str:
    """'compiled' (current build), 'stale' (built from other source), 'disabled' or 'source'."""
    if os.environ.get(ENVIRONMENT_SWITCH, "1") == "0":
        return "disabled"
    if not extension_paths(name):
        return "source"
    stamp = stamp_path(name)
    if not stamp.exists() or stamp.read_text().strip() != source_hash(name):
        return "stale"
    return "compiled"


def load(name: str) -> None:
    """Make `import name` give the compiled module only when it is current, else the source."""
    state = status(name)
    if state in ("compiled", "source") or name in sys.modules:
        return  # the regular import finds the right file (an extension wins over the source)
    if state == "stale":
        warnings.warn(
            f"the compiled {name} was built from other source; running the Python source"
            " (rebuild with `make native` or `python -m clearline.native`)",
            RuntimeWarning,
            stacklevel=3,
        )
    sys.modules[name] = load_source(name, name)


def load_source(name: str, as_name: str) -> ModuleType:
    """Execute the Python source of `name` as module `as_name` (tests load both forms)."""
    spec = importlib.util.spec_from_file_location(as_name, source_path(name))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[as_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[as_name]
        raise
    return module


class BuildFailed(Exception):
    """mypyc or the C compiler failed; the message says what to do."""


def build(names: tuple[str, ...] = NATIVE_MODULES) -> None:
    """Compile `names` with mypyc into extensions beside their sources, with their stamps."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        raise BuildFailed("no C compiler found: install gcc to build the compiled modules")
    with tempfile.TemporaryDirectory(prefix="clearline-native-") as work:
        for name in names:
            built_from = source_hash(name)
            script = (
                "from setuptools import setup\n"
                "from mypyc.build import mypycify\n"
                f"setup(name='clearline-native', ext_modules=mypycify(["
                f"'--ignore-missing-imports', '--cache-dir={Path(work) / 'mypy'}', "
                f"{str(source_path(name).relative_to(PACKAGE_ROOT))!r}"
                f"], opt_level='3', target_dir={str(Path(work) / 'c')!r}))\n"
            )
            command = [
                sys.executable,
                "-c",
                script,
                "build_ext",
                "--inplace",
                "--build-temp",
                str(Path(work) / "temp"),
                "--build-lib",
                str(Path(work) / "lib"),
            ]
            done = subprocess.run(
                command,
                cwd=PACKAGE_ROOT,
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT_S,
                check=False,
            )
            if done.returncode != 0:
                detail = (done.stdout or "")[-2_000:] + (done.stderr or "")[-2_000:]
                raise BuildFailed(
                    f"compiling {name} failed; the Python source runs instead\n{detail}"
                )
            stamp_path(name).write_text(built_from + "\n")


def clean(names: tuple[str, ...] = NATIVE_MODULES) -> None:
    for name in names:
        for path in [*extension_paths(name), stamp_path(name)]:
            path.unlink(missing_ok=True)


def main(arguments: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clearline.native", description=__doc__)
    parser.add_argument("--status", action="store_true", help="say what each module runs as")
    parser.add_argument("--clean", action="store_true", help="remove the compiled modules")
    parser.add_argument("--optional", action="store_true", help="a failed build is a warning")
    options = parser.parse_args(arguments)
    if options.status:
        for name in NATIVE_MODULES:
            print(f"{name}: {status(name)}")
        return 0
    if options.clean:
        clean()
        return 0
    try:
        build()
    except (BuildFailed, OSError, subprocess.SubprocessError) as error:
        print(f"clearline.native: {error}", file=sys.stderr)
        return 0 if options.optional else 1
    for name in NATIVE_MODULES:
        print(f"{name}: {status(name)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
