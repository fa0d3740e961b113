#!/usr/bin/env bash
# The test command: installs the test extras when missing, runs the whole
# suite with branch coverage, prints the report, and fails on any failure.
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
if ! "$PY" -c "import pytest, pytest_cov, trustme, hypothesis, h11, socks, httplib2, aiodnsresolver, googleapiclient, google_auth_httplib2, oauth2client, oauth2, apitools, lazr.restfulclient, oauthlib, build, distributed, mypy, ruff" 2>/dev/null; then
    "$PY" -m pip install -q -e '.[test]'
fi
"$PY" -m pytest --cov=asynchttp_lowhaio --cov=asynchttp --cov-branch \
    --cov-report=term-missing:skip-covered "$@"
