#!/bin/sh
# install.sh - installs the OpenAPI checker's npm packages (swagger-parser,
# ajv, ajv-formats: pinned in package.json and package-lock.json) into
# DEST/node_modules, where check.mjs finds them when it is run from DEST.
#
# Usage: install.sh DEST
#
# Idempotent: does nothing when DEST already holds this package-lock.json's
# install. Safe to run from several tests at once (flock). DEST is normally in
# the build tree, since the source tree may be read-only (make distcheck).
# --ignore-scripts: none of these packages needs an install script.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
dest=${1:?usage: install.sh DEST}
stamp="$dest/node_modules/.flashsaled-lock"

installed() {
    [ -f "$stamp" ] && cmp -s "$stamp" "$here/package-lock.json" &&
        [ -f "$dest/node_modules/@apidevtools/swagger-parser/package.json" ] &&
        [ -f "$dest/node_modules/ajv/package.json" ] &&
        [ -f "$dest/node_modules/ajv-formats/package.json" ]
}

command -v node >/dev/null 2>&1 || { echo "install.sh: node not found (apt-get install nodejs)" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "install.sh: npm not found (apt-get install npm)" >&2; exit 1; }

mkdir -p "$dest"
exec 9>"$dest/.install.lock"
flock 9
installed && exit 0

# npm ci wants package.json and the lock side by side.
if [ "$(cd "$dest" && pwd)" != "$here" ]; then
    cp "$here/package.json" "$here/package-lock.json" "$dest/"
    chmod u+w "$dest/package.json" "$dest/package-lock.json"
fi
cd "$dest"
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
cp package-lock.json "$stamp"
installed || { echo "install.sh: packages missing after npm ci in $dest" >&2; exit 1; }
echo "install.sh: OpenAPI checker packages installed in $dest"
