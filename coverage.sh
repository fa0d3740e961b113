#!/usr/bin/env bash
# The test command: runs the whole suite with branch coverage on this checkout,
# prints the report, and fails on any failure (and when no test ran).
#
# When the test requirements are missing, it installs them (the project's
# dependencies and its `test` extra, read from pyproject.toml) into the Python
# it runs, from the package index, and says so. It never installs asynchttp
# itself: an install you made (`pip install .`, editable or not) is left as it
# is. The tests import this checkout's code whatever is installed.
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
# The requirements not satisfied here, one per line: the project's dependencies
# and its test extra, read from pyproject.toml (tomllib from Python 3.11; on 3.10
# a reading of the same lists that this file's layout allows), each checked
# against the installed distributions (name, version, environment marker).
missing_text="$("$PY" - <<'PY'
import re
from importlib.metadata import PackageNotFoundError, version

try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None
with open("pyproject.toml", "rb") as f:
    raw = f.read()
if tomllib is not None:
    project = tomllib.loads(raw.decode("utf-8"))["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["test"]
else:
    text = raw.decode("utf-8")
    wanted = []
    for name in ("dependencies", "test"):
        block = re.search(r"^%s = \[(.*?)^\]" % name, text, re.M | re.S).group(1)
        wanted += re.findall(r'^\s*"([^"]+)"', block, re.M)
for line in wanted:
    requirement = Requirement(line)
    if requirement.marker is not None and not requirement.marker.evaluate():
        continue
    # dask[distributed]: the extra is also the name of the distribution it brings
    names = [requirement.name] + sorted(requirement.extras)
    try:
        installed = version(requirement.name)
        for extra in names[1:]:
            version(extra)
    except PackageNotFoundError:
        print(line)
        continue
    if not requirement.specifier.contains(installed, prereleases=True):
        print(line)
PY
)"
missing=()
if [ -n "$missing_text" ]; then
    mapfile -t missing <<<"$missing_text"
fi
if [ "${#missing[@]}" -gt 0 ]; then
    echo "coverage.sh: installing ${#missing[@]} test requirement(s) into $("$PY" -c 'import sys; print(sys.prefix)')" \
        "(from pyproject.toml: dependencies and the test extra; asynchttp itself is not installed or changed):" \
        "${missing[*]}" >&2
    "$PY" -m pip install -q "${missing[@]}"
fi
status=0
"$PY" -m pytest --cov=asynchttp_lowhaio --cov=asynchttp --cov-branch \
    --cov-report=term-missing:skip-covered "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "coverage.sh: pytest collected no tests (exit 5): nothing was tested" >&2
fi
exit "$status"
