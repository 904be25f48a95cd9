#!/bin/sh
# Build and run steps of the container image, kept here so that the Dockerfile and the
# tests (which run them directly on a host, in a temporary root) run the same commands.
#
#   container.sh build OUT    release build with --locked; installs OUT/usr/local/bin/taxii-mirror
#   container.sh setup ROOT   the taxii-mirror user (uid/gid 10001) and its folders under ROOT
#   container.sh run [ARGS]   the entry command: exec taxii-mirror serve (ARGS replace the default)
#
# Environment: TAXII_MIRROR_PROFILE (cargo profile, default release), TAXII_MIRROR_ROOT
# (where `run` finds the binary and config, default /), TAXII_MIRROR_CONFIG (default
# $TAXII_MIRROR_ROOT/etc/taxii-mirror/config.toml), TAXII_MIRROR_LOG_FORMAT (text or json).
set -eu

USER_NAME=taxii-mirror
USER_ID=10001

die() { echo "container.sh: $*" >&2; exit 1; }

build() {
    out=${1:?usage: container.sh build OUT}
    repo=$(cd "$(dirname "$0")/.." && pwd)
    profile=${TAXII_MIRROR_PROFILE:-release}
    command -v cargo >/dev/null 2>&1 || die "cargo not found"
    (cd "$repo" && cargo build --locked --profile "$profile" -p server --bin taxii-mirror)
    case "$profile" in dev) dir=debug ;; *) dir=$profile ;; esac
    bin=${CARGO_TARGET_DIR:-$repo/target}/$dir/taxii-mirror
    [ -x "$bin" ] || die "$bin was not built"
    mkdir -p "$out/usr/local/bin"
    # Stripped: debug symbols are most of an unstripped binary's size.
    install -m 0755 -s "$bin" "$out/usr/local/bin/taxii-mirror"
    echo "installed $out/usr/local/bin/taxii-mirror"
}

setup() {
    root=${1:?usage: container.sh setup ROOT}
    root=${root%/}
    prefix=""
    [ -n "$root" ] && prefix="--prefix $root"
    # shellcheck disable=SC2086 # $prefix is empty or two words on purpose
    if ! grep -q "^$USER_NAME:" "$root/etc/passwd" 2>/dev/null; then
        command -v useradd >/dev/null 2>&1 || die "useradd not found"
        grep -q "^$USER_NAME:" "$root/etc/group" 2>/dev/null \
            || groupadd $prefix --system --gid "$USER_ID" "$USER_NAME"
        useradd $prefix --system --uid "$USER_ID" --gid "$USER_ID" --no-create-home \
            --home-dir /var/lib/taxii-mirror --shell /usr/sbin/nologin \
            --comment "taxii-mirror server" "$USER_NAME"
    fi
    # Data: the server's own, nobody else's. Config and certificates: readable by the
    # server's group, written by root (the key must still be mode 0600 and owned by the user).
    install -d -m 0700 -o "$USER_ID" -g "$USER_ID" "$root/var/lib/taxii-mirror"
    install -d -m 0750 -o 0 -g "$USER_ID" "$root/etc/taxii-mirror"
    echo "user $USER_NAME ($USER_ID) and folders ready under ${root:-/}"
}

run() {
    root=${TAXII_MIRROR_ROOT:-}
    root=${root%/}
    bin=$root/usr/local/bin/taxii-mirror
    config=${TAXII_MIRROR_CONFIG:-$root/etc/taxii-mirror/config.toml}
    [ -x "$bin" ] || die "$bin not found"
    [ "$(id -u)" != 0 ] || echo "container.sh: warning: running as root; the image runs as $USER_NAME" >&2
    if [ "$#" -eq 0 ]; then
        set -- serve --config "$config"
    fi
    # exec: the server is PID 1 of the container and receives SIGTERM from `docker stop`.
    exec "$bin" --log-format "${TAXII_MIRROR_LOG_FORMAT:-text}" "$@"
}

cmd=${1:-}
[ "$#" -gt 0 ] && shift
case "$cmd" in
    build) build "$@" ;;
    setup) setup "$@" ;;
    run) run "$@" ;;
    *) die "usage: container.sh build OUT | setup ROOT | run [ARGS]" ;;
esac
