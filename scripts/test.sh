#!/bin/sh
# `npm test`: type-check and build (child-process tests run the built program), then the whole suite:
# unit, storage-adapter conformance (local folder and an s3rver the tests start), and the black-box
# suites over HTTP on SQLite and, when reachable, PostgreSQL.
set -eu
cd "$(dirname "$0")/.."
npm run build --silent
# s3rver 3.7 pages ListObjectsV2 with a cipher that OpenSSL 3 keeps in its legacy provider.
NODE_OPTIONS="${NODE_OPTIONS:-} --openssl-legacy-provider" exec npx jest "$@"
