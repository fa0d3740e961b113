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
if ! "$PY" -c "import pytest, pytest_cov, trustme, hypothesis, h11, socks, httplib2, aiodnsresolver, googleapiclient, google_auth_httplib2, oauth2client, oauth2, apitools, lazr.restfulclient, oauthlib, build, distributed, mypy, ruff" 2>/dev/null; then
    # The requirement strings, one per line (tomllib from Python 3.11; on 3.10 a
    # reading of the same lists that this file's layout allows).
    mapfile -t requirements < <("$PY" - <<'PY'
import re
try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None
with open("pyproject.toml", "rb") as f:
    raw = f.read()
if tomllib is not None:
    project = tomllib.loads(raw.decode("utf-8"))["project"]
    found = project["dependencies"] + project["optional-dependencies"]["test"]
else:
    text = raw.decode("utf-8")
    found = []
    for name in ("dependencies", "test"):
        block = re.search(r"^%s = \[(.*?)^\]" % name, text, re.M | re.S).group(1)
        found += re.findall(r'^\s*"([^"]+)"', block, re.M)
print("\n".join(found))
PY
)
    echo "coverage.sh: installing the test requirements into $("$PY" -c 'import sys; print(sys.prefix)')" \
        "(pyproject.toml: dependencies and the test extra; asynchttp itself is not installed or changed)" >&2
    "$PY" -m pip install -q "${requirements[@]}"
fi
status=0
"$PY" -m pytest --cov=asynchttp_lowhaio --cov=asynchttp --cov-branch \
    --cov-report=term-missing:skip-covered "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "coverage.sh: pytest collected no tests (exit 5): nothing was tested" >&2
fi
exit "$status"
