#!/bin/sh
# install.sh - installs CongoDB (the MongoDB wire-protocol server of
# @push.rocks/smartmongo, pinned in package.json and package-lock.json) into
# DEST/node_modules, where server.js finds it.
#
# Usage: install.sh DEST
#
# Idempotent: does nothing when DEST already holds the pinned version. Safe
# to run from several tests at once (flock). DEST is normally in the build
# tree, since the source tree may be read-only (make distcheck).
#
# Why the flags: three dependencies of smartmongo that its wire server never
# loads pull packages the npm registry lacks; package.json overrides them
# with empty local stubs (stubs/). --ignore-scripts: nothing here needs an
# install script, and one of the packages would try to download a binary.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
dest=${1:?usage: install.sh DEST}
want=$(sed -n 's/.*"@push.rocks\/smartmongo": *"\([^"]*\)".*/\1/p' "$here/package.json")
marker="$dest/node_modules/@push.rocks/smartmongo/package.json"

installed() {
    [ -f "$marker" ] && grep -q "\"version\": *\"$want\"" "$marker" &&
        [ -f "$dest/node_modules/@push.rocks/smartmongo/dist_ts/congodb/index.js" ]
}

command -v node >/dev/null 2>&1 || { echo "install.sh: node not found (install nodejs)" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "install.sh: npm not found (install npm)" >&2; exit 1; }

mkdir -p "$dest"
exec 9>"$dest/.install.lock"
flock 9
installed && exit 0

# npm ci wants package.json, the lock and the stubs side by side.
if [ "$(cd "$dest" && pwd)" != "$here" ]; then
    rm -rf "$dest/stubs"
    cp "$here/package.json" "$here/package-lock.json" "$dest/"
    cp -R "$here/stubs" "$dest/stubs"
    chmod -R u+w "$dest/stubs" "$dest/package.json" "$dest/package-lock.json"
fi
cd "$dest"
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
installed || { echo "install.sh: smartmongo $want missing after npm ci" >&2; exit 1; }
echo "install.sh: CongoDB (smartmongo $want) installed in $dest"
