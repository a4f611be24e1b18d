#!/usr/bin/env bash
# Stop everything scripts/up.sh started (same as: scripts/up.sh stop).
exec bash "$(dirname "${BASH_SOURCE[0]}")/up.sh" stop
