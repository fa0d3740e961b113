#!/usr/bin/env bash
# The fast tiers of the core, the facade and the drop-in contract (tests/compat,
# tests/dropin, tests/hostile, tests/realworld) again on uvloop (the optional extra
# asynchttp[uvloop]): ASYNCHTTP_LOOP=uvloop makes asynchttp's loop thread a
# uvloop loop and tests.servers.run() run the core's tests on one (the test
# servers stay on asyncio's loop). .ci/run calls this after the main run, in the
# same environment (the project installed with its test extras).
set -euo pipefail
cd "$(dirname "$0")/.."
# (installed only where missing: on a developer's machine the project may be installed from elsewhere)
python3 -c 'import uvloop' 2>/dev/null || python3 -m pip install -q -e '.[uvloop]'
python3 -c "import uvloop, sys; print('uvloop', uvloop.__version__, file=sys.stderr)"
ASYNCHTTP_LOOP=uvloop python3 -m pytest -q -p no:cacheprovider -m "not slow" \
    tests/core tests/facade tests/compat tests/dropin tests/hostile tests/realworld
