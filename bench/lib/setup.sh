# Preparation for bench/run: the release binary, the Python venv with the reference
# tools, wrk and nginx, certificates. Sourced, not executed.

OPENTAXII_PINS=(opentaxii==0.9.3 SQLAlchemy==1.4.54 Flask==2.2.5 Werkzeug==2.2.3
    marshmallow==3.19.0 structlog==22.3.0 gunicorn==22.0.0 PyJWT cabby==0.1.23)

build_release() {
    log "building the release binary (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    if [ "${BUILD:-1}" = 1 ]; then
        (cd "$ROOT" && cargo build --release -q -p server -p fixtures) || die "cargo build failed"
    fi
    BIN=$CARGO_TARGET_DIR/release/taxii-mirror
    MAKE_FIXTURES=$CARGO_TARGET_DIR/release/make-fixtures
    [ -x "$BIN" ] || die "no $BIN after the build"
    [ -x "$MAKE_FIXTURES" ] || die "no $MAKE_FIXTURES after the build"
}

setup_venv() {
    VENV=$OUT/venv
    if [ ! -x "$VENV/bin/gunicorn" ] || [ ! -x "$VENV/bin/taxii-poll" ]; then
        log "creating $VENV with OpenTAXII 0.9.3, gunicorn and cabby (PyPI)"
        python3 -m venv "$VENV" || die "python3 -m venv failed"
        "$VENV/bin/pip" install -q "${OPENTAXII_PINS[@]}" || die "pip install failed"
    fi
}

# wrk from Debian when it is not on PATH.
setup_wrk() {
    if ! command -v wrk >/dev/null; then
        log "installing wrk from Debian"
        apt-get install -y -q wrk >/dev/null || die "apt-get install wrk failed"
    fi
    WRK=$(command -v wrk)
}

# nginx from Debian, unpacked under out/ (dpkg -x) rather than installed: installing the
# package would start a system nginx listening on every address.
setup_nginx() {
    NGINX=$OUT/nginx-root/usr/sbin/nginx
    if [ ! -x "$NGINX" ]; then
        log "fetching nginx from Debian (unpacked under $OUT/nginx-root, not installed)"
        mkdir -p "$OUT/nginx-deb"
        (cd "$OUT/nginx-deb" && apt-get download -q nginx >/dev/null) || die "apt-get download nginx failed"
        dpkg -x "$(ls "$OUT"/nginx-deb/nginx_*.deb | head -1)" "$OUT/nginx-root" || die "dpkg -x failed"
    fi
    "$NGINX" -v 2>/dev/null || die "the unpacked nginx does not run"
}

# A private CA and a certificate for 127.0.0.1, shared by every server of the run.
setup_certs() {
    CERTS=$WORK/certs
    if [ ! -f "$CERTS/server.crt" ]; then
        mkdir -p "$CERTS"
        "$BIN" make-ca --dir "$CERTS" >/dev/null || die "make-ca failed"
        "$BIN" make-cert --ca-dir "$CERTS" --out "$CERTS/server" localhost 127.0.0.1 >/dev/null \
            || die "make-cert failed"
    fi
    CA_CRT=$CERTS/ca.crt
    SERVER_CRT=$CERTS/server.crt
    SERVER_KEY=$CERTS/server.key
    BENCH_USER=bench
    BENCH_PASSWORD=bench-password-$(date +%s)
    BENCH_HASH=$(printf '%s' "$BENCH_PASSWORD" | "$BIN" hash-password) || die "hash-password failed"
}

describe_machine() {
    MACHINE="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr)"
}
