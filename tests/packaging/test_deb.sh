#!/usr/bin/env bash
# test_deb.sh - the Debian packages, end to end, on this machine: builds them
# (dpkg-buildpackage -us -uc -b) from a copy of the tree, so the tree itself
# stays unconfigured; runs lintian (an error fails); installs flashsaled with
# apt-get and checks what it pulled in and set up (the flashsaled user, the
# data folder, the conffile); runs the systemd unit's ExecStartPre and
# ExecStart as the unit's user (no systemd needed); books one item with a
# token from `flashsaled token` and confirms it; stops the daemon (exit 0);
# installs the plugin and -dev packages and uses each; then removes (the
# bookings stay) and purges (the data folder and /etc/flashsaled go).
#
# Root on Debian 12: it installs and purges packages. .ci/run runs it as a
# step; by hand: sudo bash tests/packaging/test_deb.sh
# Every wait is bounded and stretched by FS_TIMEOUT_SCALE, like the tests'.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
root=$(cd "$(dirname "$0")/../.." && pwd)
scale=${FS_TIMEOUT_SCALE:-1}
packages=(flashsaled flashsaled-plugin-redis flashsaled-plugin-rabbitmq
          flashsaled-plugin-mongo flashsaled-dev)

say() { echo "test_deb: $*"; }
# Our packages dpkg still knows (installed, or removed with conffiles left).
ours() { dpkg-query -W -f='${Package}\n' "${packages[@]}" 2>/dev/null || true; }
purge_ours() {
    local known
    known=$(ours)
    # shellcheck disable=SC2086 # one package name a line
    [ -z "$known" ] || apt-get purge -y -q $known >/dev/null
}
fail() { echo "test_deb: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "run as root: it installs and purges packages"

work=$(mktemp -d /tmp/fs-deb.XXXXXX)
daemon=
finish() {
    local rc=$?
    [ -z "$daemon" ] || kill -TERM "$daemon" 2>/dev/null || true
    if [ "$rc" = 0 ]; then
        rm -rf "$work"
    else
        [ ! -f "$work/daemon.log" ] || { echo "--- daemon log"; tail -40 "$work/daemon.log"; }
        echo "test_deb: logs kept in $work" >&2
        purge_ours 2>/dev/null || true
    fi
}
trap finish EXIT

# Polls "$@" every 0.1 s until it succeeds or SECONDS (scaled) pass.
poll() {
    local seconds=$1; shift
    local tries
    tries=$(awk -v s="$seconds" -v k="$scale" 'BEGIN { printf "%d", s * k * 10 }')
    for _ in $(seq "$tries"); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

say "build dependencies (debian/control's Build-Depends)"
apt-get install -y -q debhelper lintian dpkg-dev curl >/dev/null
apt-get build-dep -y -q "$root" >/dev/null

say "a copy of the tree in $work"
version=$(dpkg-parsechangelog -l "$root/debian/changelog" -S Version)
src=$work/flashsaled-${version%-*}
mkdir -p "$src"
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # What git tracks or would add: no build products, no local runs' data.
    git -C "$root" ls-files -z --cached --others --exclude-standard |
        (cd "$root" && while IFS= read -r -d '' f; do
             [ -e "$f" ] && printf '%s\0' "$f"; done) |
        tar -C "$root" --null -T - -cf - | tar -C "$src" -xf -
else
    tar -C "$root" --exclude='./build-*' --exclude=./_inst -cf - . | tar -C "$src" -xf -
fi

say "dpkg-buildpackage -us -uc -b (log: $work/build.log)"
(cd "$src" && DEB_BUILD_OPTIONS="parallel=$(nproc)" dpkg-buildpackage -us -uc -b) \
    > "$work/build.log" 2>&1 || { tail -60 "$work/build.log"; fail "dpkg-buildpackage failed"; }
cd "$work"
arch=$(dpkg --print-architecture)
changes=flashsaled_${version}_${arch}.changes
ls -l ./*.deb

say "lintian (errors fail; warnings are listed)"
lintian --fail-on error --tag-display-limit 0 "$changes" | tee lintian.log ||
    fail "lintian found errors"

say "flashsaled depends on no client library of a real backend"
deps=$(dpkg-deb -f "flashsaled_${version}_${arch}.deb" Depends)
echo "Depends: $deps"
! grep -qE 'hiredis|rabbitmq|mongoc|bson' <<<"$deps" ||
    fail "flashsaled depends on a real backend's library"
# Listings go through a variable, not a pipe into grep -q: grep leaves at the
# first match, the writer dies of SIGPIPE, and pipefail makes that a failure.
listing=$(dpkg-deb -c "flashsaled-plugin-redis_${version}_${arch}.deb")
grep -q '/inventory_redis\.so$' <<<"$listing" ||
    fail "flashsaled-plugin-redis holds no inventory_redis.so"

say "apt-get install ./flashsaled_*.deb"
purge_ours
rm -rf /var/lib/flashsaled
apt-get install -y -q "./flashsaled_${version}_${arch}.deb" >/dev/null
ldd /usr/sbin/flashsaled /usr/lib/*/flashsaled/*.so > ldd.txt
! grep -E 'hiredis|rabbitmq|mongoc|not found' ldd.txt ||
    fail "the installed daemon or a plugin links a real backend's library, or misses one"
getent passwd flashsaled >/dev/null || fail "no flashsaled user"
[ "$(stat -c '%U:%G %a' /var/lib/flashsaled)" = "flashsaled:flashsaled 750" ] ||
    fail "/var/lib/flashsaled is $(stat -c '%U:%G %a' /var/lib/flashsaled)"
conffiles=$(dpkg-query -W -f='${Conffiles}\n' flashsaled)
grep -q ' /etc/flashsaled/flashsaled.yaml ' <<<"$conffiles" ||
    fail "/etc/flashsaled/flashsaled.yaml is not a conffile"
[ -f /usr/share/man/man8/flashsaled.8.gz ] || fail "no flashsaled(8)"

say "the unit's commands, as its user"
unit=
for u in /lib/systemd/system/flashsaled.service /usr/lib/systemd/system/flashsaled.service; do
    [ -f "$u" ] && unit=$u && break
done
[ -n "$unit" ] || fail "no flashsaled.service installed"
user=$(sed -n 's/^User=//p' "$unit")
pre=$(sed -n 's/^ExecStartPre=//p' "$unit")
start=$(sed -n 's/^ExecStart=//p' "$unit")
if [ "$user" != flashsaled ] || [ -z "$pre" ] || [ -z "$start" ]; then
    fail "$unit: User=$user ExecStartPre=$pre ExecStart=$start"
fi
config=/etc/flashsaled/flashsaled.yaml
# What the package asks of an admin before the first start: a secret of
# one's own. And a free port: 8080 may be taken on a shared machine.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -i -e "s/^listen: .*/listen: \"127.0.0.1:$port\"/" \
    -e "s/^  jwt_secret: .*/  jwt_secret: \"$(head -c 24 /dev/urandom | base64 | tr -d '/+=')\"/" \
    "$config"
as_user() { setpriv --reuid="$user" --regid="$user" --init-groups --inh-caps=-all -- "$@"; }
# shellcheck disable=SC2086 # the unit's command line, split as systemd does here
(cd / && as_user $pre) || fail "ExecStartPre failed: $pre"
# shellcheck disable=SC2086
(cd / && exec setpriv --reuid="$user" --regid="$user" --init-groups --inh-caps=-all -- $start) \
    2> daemon.log &
daemon=$!
api=http://127.0.0.1:$port/booking-service
poll 15 curl -fs "http://127.0.0.1:$port/healthz" -o /dev/null || fail "no /healthz answer"
grep -q 'queue journal, inventory memory, storage sqlite' daemon.log ||
    fail "the daemon did not start on the embedded plugins"

say "book once with a token from flashsaled token"
token=$(flashsaled token --config "$config" --user deb-user)
auth="Authorization: Bearer $token"
answer=$(curl -fs -X POST -H "$auth" "$api/book-item/launch")
echo "$answer"
id=$(sed -n 's/.*"booking_id":"\([^"]*\)".*/\1/p' <<<"$answer")
[ -n "$id" ] || fail "no booking id in $answer"
held() { [[ $(curl -fs -H "$auth" "$api/book-item/launch/$id") == *'"status":"hold"'* ]]; }
poll 15 held || fail "booking $id never became a hold"
curl -fs -X PUT -H "$auth" -H 'Content-Type: application/json' \
    -d '{"status":"booked"}' "$api/book-item/launch/$id" | tee booked.json
grep -q '"status":"booked"' booked.json || fail "the confirm did not answer booked"
[ "$(stat -c %U /var/lib/flashsaled/bookings.db)" = flashsaled ] ||
    fail "/var/lib/flashsaled/bookings.db is missing or not the daemon's"
# The shipped config's journal queue keeps its segments beside it.
[ "$(stat -c %U /var/lib/flashsaled/queue)" = flashsaled ] &&
    ls /var/lib/flashsaled/queue/*.seg >/dev/null ||
    fail "/var/lib/flashsaled/queue holds no journal segment of the daemon's"

say "SIGTERM: the daemon exits 0"
kill -TERM "$daemon"
rc=0; wait "$daemon" || rc=$?
daemon=
[ "$rc" = 0 ] || fail "the daemon exited $rc after SIGTERM"

say "the plugin packages and flashsaled-dev"
apt-get install -y -q ./flashsaled-plugin-redis_*.deb ./flashsaled-plugin-rabbitmq_*.deb \
    ./flashsaled-plugin-mongo_*.deb ./flashsaled-dev_*.deb >/dev/null
for kp in "inventory redis" "queue rabbitmq" "storage mongo"; do
    # shellcheck disable=SC2086 # two words: kind and name
    flashsaled --help-plugin $kp > help.txt || fail "flashsaled --help-plugin $kp failed"
    grep -q '^url\|^uri' help.txt || fail "--help-plugin $kp lists no url/uri"
done
[ "$(pkg-config --variable=plugindir flashsaled-plugin)" = "$(dirname "$(ls /usr/lib/*/flashsaled/queue_memory.so)")" ] ||
    fail "flashsaled-plugin.pc's plugindir is not where the plugins are"
printf '#include <flashsaled/fs_plugin.h>\nint main(void) { return FS_PLUGIN_ABI_VERSION > 0 ? 0 : 1; }\n' > abi.c
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror $(pkg-config --cflags flashsaled-plugin) abi.c -o abi ||
    fail "a program including <flashsaled/fs_plugin.h> does not build"
./abi || fail "FS_PLUGIN_ABI_VERSION is not positive"

say "remove keeps the bookings and the config; purge deletes them"
apt-get remove -y -q "${packages[@]}" >/dev/null
[ -f /var/lib/flashsaled/bookings.db ] || fail "apt-get remove deleted the bookings"
[ -f "$config" ] || fail "apt-get remove deleted the conffile"
[ "$(dpkg-query -W -f='${db:Status-Abbrev}' flashsaled)" = "rc " ] ||
    fail "flashsaled is not removed with its conffiles kept"
# Only flashsaled has conffiles: dpkg forgot the others at remove.
apt-get purge -y -q flashsaled >/dev/null
[ -z "$(ours)" ] || fail "still known to dpkg after purge: $(ours)"
[ ! -e /var/lib/flashsaled ] || fail "apt-get purge left /var/lib/flashsaled"
[ ! -e /etc/flashsaled ] || fail "apt-get purge left /etc/flashsaled: $(find /etc/flashsaled)"
say "ok: built, lintian clean of errors, installed, booked and confirmed as the unit's user, purged"
