"""Packaging: the wheel and the sdist hold the two packages and not the tests, and a
fresh virtualenv with only the wheel installed runs ``asynchttp demo`` to its summary.

The build runs on a copy of the checkout (so no build/ or egg-info lands in the
working tree), through the PEP 517 backend pyproject.toml names (pip and ``build``
fetch that setuptools into an isolated build environment from the package index).

The venv finds the dependencies (httplib2, aiodnsresolver, pip itself) in the
site-packages directories of the interpreter running the tests: a ``.pth`` file in
the venv lists them, after the venv's own site-packages, so the wheel's copy of the
two packages comes first and ``pip install --no-deps --no-index`` needs no network.
Not ``--system-site-packages``: from inside a venv, that shows the *base*
interpreter's site-packages, not the venv's where the dependencies are. The lines
are plain paths, so ``.pth`` files there (an editable install of this checkout)
are not run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path
from typing import Iterator

import pytest

pytestmark = pytest.mark.slow  # building the wheel and a venv takes seconds

REPO = Path(__file__).resolve().parents[2]
# Hang guards, not timing assertions.
BUILD_TIMEOUT = 240.0
RUN_TIMEOUT = 120.0

PACKAGES = ("asynchttp", "asynchttp_lowhaio")
NOT_SHIPPED = ("tests/", "benchmarks/", ".ci/")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(args: list[str], cwd: Path, timeout: float = BUILD_TIMEOUT) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=str(cwd), env=_env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, "%s\n%s\n%s" % (args, proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout, tests included (so leaving them out is the build's doing)."""
    copy = tmp_path_factory.mktemp("src") / "asynchttp"
    shutil.copytree(
        REPO,
        copy,
        ignore=shutil.ignore_patterns(
            ".git",
            "build",
            "dist",
            "*.egg-info",
            "__pycache__",
            "*.pyc",
            ".coverage*",
            ".pytest_cache",
            ".hypothesis",
            "results",
            ".benchmarks",
        ),
    )
    assert (copy / "tests" / "packaging" / "test_wheel.py").exists()
    return copy


@pytest.fixture(scope="module")
def wheel(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheelhouse")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), "."], source)
    (built,) = out.glob("asynchttp-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("venv") / "env"
    # No pip inside: this interpreter's pip (visible through the .pth file) installs
    # into the venv, which is where the venv's python points it.
    _run([sys.executable, "-m", "venv", "--without-pip", str(root)], root.parent)
    python = root / "bin" / "python"
    venv_site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], root.parent)
    (Path(venv_site.stdout.strip()) / "outer-site-packages.pth").write_text(
        "".join(path + "\n" for path in outer_site_packages()), encoding="utf-8"
    )
    # --ignore-installed: an asynchttp installed in the outer environment (the
    # user's `pip install .`) is visible through the .pth file; the wheel goes into
    # the venv all the same, and the outer one is left alone.
    _run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", "-q", str(wheel)],
        root.parent,
    )
    yield root


def outer_site_packages() -> list[str]:
    """The site-packages directories this interpreter imports from (a venv's, the
    base interpreter's when it sees them, the user's), in its order."""
    paths = sysconfig.get_paths()
    candidates = [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages")]
    candidates += [paths["purelib"], paths["platlib"]]
    found: list[str] = []
    for path in candidates:
        if Path(path).is_dir() and path not in found:
            found.append(path)
    return found


def test_outer_site_packages_holds_the_dependencies() -> None:
    # What the venv relies on: httplib2 and aiodnsresolver under one of them.
    import aiodnsresolver
    import httplib2

    for module in (httplib2, aiodnsresolver):
        assert module.__file__ is not None
        assert any(Path(module.__file__).resolve().is_relative_to(Path(p).resolve()) for p in outer_site_packages())


def test_wheel_holds_both_packages_and_no_tests(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(dist_info + "/METADATA").decode("utf-8")
        entry_points = archive.read(dist_info + "/entry_points.txt").decode("utf-8")
    for package in PACKAGES:
        assert package + "/__init__.py" in names
        assert package + "/py.typed" in names
    for module in (
        "_cli.py",
        "__main__.py",
        "_demo.py",
        "_http.py",
        "_client.py",
        "_flow.py",
        "_tunnels.py",
        "_promise.py",
        "_loop.py",
    ):
        assert "asynchttp/" + module in names
    for module in ("_pool.py", "_parser.py", "_writer.py", "_connection.py"):
        assert "asynchttp_lowhaio/" + module in names
    top_level = {n.split("/")[0] for n in names}
    assert top_level == set(PACKAGES) | {dist_info}
    assert not [n for n in names if n.startswith(NOT_SHIPPED) or "/tests/" in n]
    assert "Requires-Python: >=3.10" in metadata
    assert "Requires-Dist: httplib2" in metadata and "Requires-Dist: aiodnsresolver" in metadata
    assert "asynchttp = asynchttp._cli:main" in entry_points


def test_sdist_holds_both_packages_and_no_tests(source: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    out = tmp_path_factory.mktemp("sdist")
    # `python -m build`, not `setup.py sdist`: the metadata in pyproject.toml needs
    # the setuptools that [build-system] asks for, not whichever one is installed.
    _run([sys.executable, "-m", "build", "--sdist", "-o", str(out), "."], source)
    (built,) = out.glob("asynchttp-*.tar.gz")
    with tarfile.open(built) as archive:
        names = [n.split("/", 1)[1] for n in archive.getnames() if "/" in n]
    for package in PACKAGES:
        assert package + "/__init__.py" in names and package + "/py.typed" in names
    assert "asynchttp/_demo.py" in names and "setup.py" in names and "README.rst" in names
    assert "pyproject.toml" in names
    assert "examples/simple.py" in names
    assert not [n for n in names if n.startswith(NOT_SHIPPED)]


def test_installed_wheel_runs_the_demo(venv: Path, wheel: Path, tmp_path: Path) -> None:
    python = venv / "bin" / "python"
    where = _run(
        [
            str(python),
            "-c",
            "import asynchttp, asynchttp_lowhaio; print(asynchttp.__file__); print(asynchttp_lowhaio.__file__)",
        ],
        tmp_path,
    )
    for path in where.stdout.split():
        # the wheel's copy, not this checkout's
        assert Path(path).resolve().is_relative_to(venv.resolve()), path
    script = venv / "bin" / "asynchttp"
    assert script.exists()
    demo = _run([str(script), "demo"], tmp_path, timeout=RUN_TIMEOUT)
    err = demo.stderr
    assert "fetching 1000 of its URLs" in err
    assert "asynchttp: 1000 requests in " in err and "  latency   p50 " in err
    assert "asynchttp demo: every answer was right" in err
    version = _run([str(python), "-m", "asynchttp", "--version"], tmp_path)
    assert version.stdout.strip() == "asynchttp " + wheel.name.split("-")[1]
