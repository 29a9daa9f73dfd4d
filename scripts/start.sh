#!/bin/sh
# `npm start`: from a fresh clone to a running service on the embedded default
# (SQLite file + local encrypted folder + a master key generated on first start, all in ./data).
# Installs dependencies and builds only when needed, then starts `callvault serve`.
set -eu
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "callvault: installing dependencies (npm ci; sqlite3 builds from source, about a minute)..." >&2
  npm ci --no-audit --no-fund
fi
if [ ! -f dist/src/cli/main.js ] || [ -n "$(find src config storage-adapters -newer dist/src/cli/main.js -type f -print | head -n 1)" ]; then
  echo "callvault: building..." >&2
  npm run build --silent
fi
if ! command -v ffmpeg >/dev/null 2>&1; then
  echo "callvault: note: ffmpeg is not installed; recordings are stored, but MP3/WAV export needs it (apt-get install ffmpeg)." >&2
fi
exec node dist/src/cli/main.js serve
