#!/usr/bin/env bash
# The OTLP/HTTP test receiver (tests/otlp/receiver.js), checked on its own,
# without tracewire: see tests/otlp/selftest.sh.
set -euo pipefail
exec bash "$(dirname "$0")/../otlp/selftest.sh"
