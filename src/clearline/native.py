"""Compiled hot paths: the same Python source, compiled with mypyc, used only when it is current.

Guarantees:
- One source. A module in `NATIVE_GROUPS` is ordinary, type-annotated Python; `build()` compiles
  those very files with mypyc (the compiler that ships with mypy) into C extensions beside them,
  and records the SHA-256 of the sources it compiled in `<group>.native-sha256`. Nothing is
  written by hand in C, so the Python and the compiled modules cannot disagree in what they
  compute (tested: feature vectors from both are equal on a simulated stream).
- One group, one library. The modules of a group are compiled together into one shared library
  (`<group>__mypyc`, at the top of the source tree, with a small extension beside each module
  that points into it), so a call from one of them to another is a native C call, as it was
  when they were one file.
- Never stale, never mixed. `load(name)` (called by the package that owns the modules, before
  anything imports them) uses the extensions only when every module of the group has one and the
  recorded hash equals that of the current sources; when any source changed after the build, a
  part is missing, or `CLEARLINE_NATIVE=0` is set, it loads the Python source of every module of
  the group instead, so an edit can never be shadowed by an old build and compiled and source
  modules never run together. A stale build is said once, with the command that rebuilds it.
- Optional. Without a C compiler (or mypyc) the build fails with a clear message and the
  platform runs the Python source, only slower: `make` builds it when it can.
  `python -m clearline.native --clean` removes every built file, those of older layouts too.

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

FEATURE_GROUP = "clearline_risk_features"
"""The per-event risk features (batch scoring's critical path) and their parts. A top-level name:
mypyc derives each module's `__file__` from the library's place, which it takes to be above the
package tree (so the library is `src/clearline_risk_features__mypyc.*.so`)."""
NATIVE_GROUPS: dict[str, tuple[str, ...]] = {
    FEATURE_GROUP: (
        "clearline.risk.feature_catalogue",
        "clearline.risk.feature_windows",
        "clearline.risk.feature_state",
        "clearline.risk.features",
    ),
}
"""Modules compiled by `build()`, by group: one mypyc compilation and one shared library each.
A group lists its modules in import order (each imports only modules before it), the order in
which `load_sources` executes them."""
NATIVE_MODULES = tuple(name for names in NATIVE_GROUPS.values() for name in names)
STAMP_SUFFIX = ".native-sha256"
LIBRARY_INFIX = "__mypyc"
"""mypyc's name for a group's shared library: `<group>__mypyc<extension suffix>`."""
ENVIRONMENT_SWITCH = "CLEARLINE_NATIVE"
"""Set to 0 to run every module from its Python source."""
BUILD_TIMEOUT_S = 600
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def source_path(name: str) -> Path:
    return PACKAGE_ROOT.joinpath(*name.split(".")).with_suffix(".py")


def group_of(name: str) -> str:
    """The group that compiles module `name` (a KeyError names a module that is not compiled)."""
    for group, names in NATIVE_GROUPS.items():
        if name in names:
            return group
    raise KeyError(f"{name} is not in clearline.native.NATIVE_GROUPS")


def _beside(name: str, tail: str) -> Path:
    """`tail` appended to the last part of dotted `name`, in the package directory of `name`."""
    *package, last = name.split(".")
    return PACKAGE_ROOT.joinpath(*package, last + tail)


def stamp_path(group: str) -> Path:
    return _beside(group, STAMP_SUFFIX)


def library_paths(group: str) -> list[Path]:
    """The group's shared library, where built."""
    candidates = (
        _beside(group, LIBRARY_INFIX + suffix) for suffix in importlib.machinery.EXTENSION_SUFFIXES
    )
    return [path for path in candidates if path.exists()]


def extension_paths(name: str) -> list[Path]:
    """The built extension of module `name`, where present, and the library a build from before
    the groups put beside it (`<module>__mypyc`), so that `clean` removes that too."""
    candidates = (
        _beside(name, infix + suffix)
        for infix in ("", LIBRARY_INFIX)
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
    )
    return [path for path in candidates if path.exists()]


def _extension(name: str) -> list[Path]:
    """The module's own extension (no library), where built."""
    return [path for path in extension_paths(name) if LIBRARY_INFIX not in path.name]


def source_hash(name: str) -> str:
    return hashlib.sha256(source_path(name).read_bytes()).hexdigest()


def group_hash(group: str) -> str:
    """One hash of the group's sources with their module names: what a build is stamped with."""
    lines = "".join(f"{name} {source_hash(name)}\n" for name in NATIVE_GROUPS[group])
    return hashlib.sha256(lines.encode()).hexdigest()


def status(name: str) -> str:
    """What module `name` runs as, the same for every module of its group: 'compiled' (a current
    build), 'stale' (built from other source, or a part of the build is missing), 'disabled'
    (`CLEARLINE_NATIVE=0`) or 'source' (nothing built)."""
    if os.environ.get(ENVIRONMENT_SWITCH, "1") == "0":
        return "disabled"
    group = group_of(name)
    built = [bool(_extension(member)) for member in NATIVE_GROUPS[group]]
    if not any(built) and not library_paths(group):
        return "source"
    stamp = stamp_path(group)
    if not all(built) or not library_paths(group) or not stamp.exists():
        return "stale"
    return "compiled" if stamp.read_text().strip() == group_hash(group) else "stale"


def load(name: str) -> None:
    """Make `import` give the compiled modules of `name`'s group only when their build is
    current, else the Python source of every one of them."""
    group = group_of(name)
    state = status(name)
    if state in ("compiled", "source") or any(item in sys.modules for item in NATIVE_GROUPS[group]):
        return  # the regular import finds the right files (an extension wins over the source)
    if state == "stale":
        warnings.warn(
            f"the compiled {group} ({', '.join(NATIVE_GROUPS[group])}) is incomplete or was built"
            " from other source; running the Python source"
            " (rebuild with `make native` or `python -m clearline.native`)",
            RuntimeWarning,
            stacklevel=3,
        )
    load_sources(group)


def load_sources(group: str, alias: str | None = None) -> dict[str, ModuleType]:
    """Execute the Python source of every module of `group`, in import order; by module name.

    alias None: each runs under its own name and stays in `sys.modules` (`load`). Otherwise each
    runs as `<alias>_<last part of its name>` beside whatever is loaded under the real names
    (tests load both forms): while they run, `sys.modules` maps the real names to the source
    modules, so that their imports of each other find source too, and is restored afterwards.
    """
    names = NATIVE_GROUPS[group]
    saved = {name: sys.modules[name] for name in names if name in sys.modules}
    loaded: dict[str, ModuleType] = {}
    try:
        for name in names:
            as_name = name if alias is None else f"{alias}_{name.rpartition('.')[2]}"
            loaded[name] = sys.modules[name] = load_source(name, as_name)
    except BaseException:
        for name in names:
            sys.modules.pop(name, None)
        sys.modules.update(saved)
        raise
    if alias is not None:
        for name in names:
            sys.modules.pop(name, None)
        sys.modules.update(saved)
    return loaded


def load_source(name: str, as_name: str) -> ModuleType:
    """Execute the Python source of module `name` as module `as_name`."""
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


def build(groups: tuple[str, ...] = tuple(NATIVE_GROUPS)) -> None:
    """Compile each group with mypyc into extensions beside its sources, then stamp it.

    What an earlier build left is removed first, so a failed build leaves no extension that could
    pass for current (the stamp is written last, after the compiler succeeded)."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        raise BuildFailed("no C compiler found: install gcc to build the compiled modules")
    for group in groups:
        built_from = group_hash(group)
        clean((group,))
        with tempfile.TemporaryDirectory(prefix="clearline-native-") as work:
            _compile(group, Path(work))
        stamp_path(group).write_text(built_from + "\n")


def _compile(group: str, work: Path) -> None:
    """One mypyc run over all of `group`'s sources, into one shared library named after it."""
    sources = [str(source_path(name).relative_to(PACKAGE_ROOT)) for name in NATIVE_GROUPS[group]]
    script = (
        "from setuptools import setup\n"
        "from mypyc.build import mypycify\n"
        f"setup(name='clearline-native', ext_modules=mypycify(["
        f"'--ignore-missing-imports', '--cache-dir={work / 'mypy'}', "
        f"{', '.join(repr(source) for source in sources)}"
        f"], opt_level='3', group_name={group!r}, target_dir={str(work / 'c')!r}))\n"
    )
    command = [
        sys.executable,
        "-c",
        script,
        "build_ext",
        "--inplace",
        "--build-temp",
        str(work / "temp"),
        "--build-lib",
        str(work / "lib"),
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
        raise BuildFailed(f"compiling {group} failed; the Python source runs instead\n{detail}")


def clean(groups: tuple[str, ...] = tuple(NATIVE_GROUPS)) -> None:
    """Remove every built file of `groups`: extensions, libraries and stamps, of this layout and
    of the one before groups (one extension, library and stamp per module)."""
    for group in groups:
        paths = [*library_paths(group), stamp_path(group)]
        for name in NATIVE_GROUPS[group]:
            paths += [*extension_paths(name), _beside(name, STAMP_SUFFIX)]
        for path in paths:
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
