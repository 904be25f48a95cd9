# Starting and stopping the servers under test: taxii-mirror, OpenTAXII behind gunicorn,
# nginx. Every one binds 127.0.0.1 only and is tracked for cleanup. Sourced, not executed.

# Write a taxii-mirror config. Usage: ours_config FILE DATA_DIR COLLECTION [EXTRA_TOML]
ours_config() {
    local file=$1 data=$2 collection=$3 extra=${4:-}
    cat >"$file" <<EOF
data_dir = "$data"

[listen]
https = "127.0.0.1:0"
cert = "$SERVER_CRT"
key = "$SERVER_KEY"

[limits]
max_blocks_per_part = $PART_BLOCKS

[admin]
listen = "127.0.0.1:0"

[[user]]
name = "$BENCH_USER"
password_hash = "$BENCH_HASH"

[[collection]]
name = "$collection"
read = ["$BENCH_USER"]
write = ["$BENCH_USER"]
$extra
EOF
}

# Post a Discovery_Request (no credentials) every 10 ms until one gets HTTP 200, for up to
# SECS seconds; with PID, give up early when that process is gone. PROBE_LAST tells what the
# last try got.
wait_for_discovery() {
    local url=$1 secs=$2 pid=${3:-} deadline code
    deadline=$(( $(date +%s) + secs ))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        code=$(taxii_post "$url/services/discovery" "X-Bench: 1" "$WORK/discovery.xml" /dev/null \
            2>"$WORK/probe.err" | cut -d' ' -f1) || true
        [ "$code" = 200 ] && return 0
        PROBE_LAST="HTTP ${code:-none} $(head -c 200 "$WORK/probe.err")"
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            PROBE_LAST+=" (process $pid exited)"
            return 1
        fi
        sleep 0.01
    done
    return 1
}

# Stop a taxii-mirror instance: TERM, then KILL after OURS_STOP_GRACE seconds. Counts the
# instances that had to be killed in OURS_KILLED (reported with the results).
OURS_KILLED=0
stop_ours() {
    stop_pid "$1" "$OURS_STOP_GRACE" || {
        OURS_KILLED=$((OURS_KILLED + 1))
        log "taxii-mirror (pid $1) did not exit within ${OURS_STOP_GRACE}s of SIGTERM; killed"
    }
}

# Start taxii-mirror and wait until it answers a Discovery request (without credentials,
# as for OpenTAXII, so that no password hash check is counted).
# Usage: start_ours CONFIG LOGFILE. Sets OURS_PID, OURS_URL (https://127.0.0.1:PORT),
# OURS_STARTUP_MS (exec to first answered Discovery).
start_ours() {
    local config=$1 logfile=$2 t0 addr code i
    t0=$(now_ns)
    : >"$logfile"   # emptied before the start: the wait below must not read an old run's line
    # As deployed (deploy/taxii-mirror.service, Dockerfile): two malloc arenas.
    MALLOC_ARENA_MAX=${OURS_MALLOC_ARENA_MAX:-2} "$BIN" serve --config "$config" 2>"$logfile" &
    OURS_PID=$!
    track "$OURS_PID"
    wait_for_line "$logfile" 'listening kind="https"' 60 || die "taxii-mirror did not start: $(tail -5 "$logfile")"
    addr=$(grep -o 'kind="https" addr=[0-9.:]*' "$logfile" | head -1 | sed 's/.*addr=//')
    OURS_URL="https://$addr"
    discovery_xml >"$WORK/discovery.xml"
    wait_for_discovery "$OURS_URL" 60 || die "taxii-mirror does not answer Discovery (last try: $PROBE_LAST): $(tail -5 "$logfile")"
    OURS_STARTUP_MS=$(ms_between "$t0" "$(now_ns)")
}

# --- OpenTAXII ----------------------------------------------------------------------------

# Write OpenTAXII's server config and data config, create its databases and the account.
# Usage: opentaxii_prepare DIR PORT
opentaxii_prepare() {
    local dir=$1 port=$2
    rm -rf "$dir"; mkdir -p "$dir"
    cat >"$dir/opentaxii.yml" <<EOF
---
domain: "127.0.0.1:$port"
support_basic_auth: yes
return_server_error_details: no
auth_api:
  class: opentaxii.auth.sqldb.SQLDatabaseAPI
  parameters:
    db_connection: sqlite:///$dir/auth.db
    create_tables: yes
    secret: bench-secret-$RANDOM$RANDOM
    token_ttl_secs: 36000
taxii1:
  save_raw_inbox_messages: yes
  xml_parser_supports_huge_tree: yes
  count_blocks_in_poll_responses: no
  unauthorized_status: UNAUTHORIZED
  hooks:
  persistence_api:
    class: opentaxii.persistence.sqldb.SQLDatabaseAPI
    parameters:
      db_connection: sqlite:///$dir/data.db
      create_tables: yes
logging:
  opentaxii: warning
  root: warning
EOF
    cat >"$dir/data.yml" <<EOF
---
services:
  - id: discovery
    type: discovery
    address: /services/discovery
    description: Discovery
    advertised_services: [discovery, collection_management, poll, inbox]
    protocol_bindings: [urn:taxii.mitre.org:protocol:https:1.0]
  - id: collection_management
    type: collection_management
    address: /services/collection-management
    description: Collections
    protocol_bindings: [urn:taxii.mitre.org:protocol:https:1.0]
  - id: poll
    type: poll
    address: /services/poll
    description: Poll
    subscription_required: no
    max_result_size: $PART_BLOCKS
    authentication_required: yes
    protocol_bindings: [urn:taxii.mitre.org:protocol:https:1.0]
  - id: inbox
    type: inbox
    address: /services/inbox
    description: Inbox
    destination_collection_required: yes
    accept_all_content: yes
    authentication_required: yes
    protocol_bindings: [urn:taxii.mitre.org:protocol:https:1.0]
collections:
  - name: bench
    available: true
    accept_all_content: true
    type: DATA_FEED
    service_ids: [collection_management, poll, inbox]
  - name: bench-inbox
    available: true
    accept_all_content: true
    type: DATA_FEED
    service_ids: [collection_management, poll, inbox]
accounts:
  - username: $BENCH_USER
    password: $BENCH_PASSWORD
    permissions:
      bench: modify
      bench-inbox: modify
EOF
    OPENTAXII_CONFIG=$dir/opentaxii.yml "$VENV/bin/opentaxii-sync-data" "$dir/data.yml" \
        >"$dir/sync.log" 2>&1 || die "opentaxii-sync-data failed: $(tail -5 "$dir/sync.log")"
}

# Start gunicorn with OpenTAXII (4 sync workers, TLS) and wait until it answers a
# Discovery request. Usage: start_opentaxii DIR PORT.
# Sets OT_PID (gunicorn master), OT_URL, OT_STARTUP_MS, OT_TOKEN (JWT for bench user).
start_opentaxii() {
    local dir=$1 port=$2 t0 code i
    t0=$(now_ns)
    OPENTAXII_CONFIG=$dir/opentaxii.yml "$VENV/bin/gunicorn" opentaxii.http:app \
        --bind "127.0.0.1:$port" --workers "$OT_WORKERS" --timeout 600 \
        --certfile "$SERVER_CRT" --keyfile "$SERVER_KEY" \
        --config python:opentaxii.http --error-logfile "$dir/gunicorn.log" \
        >>"$dir/gunicorn.out" 2>&1 &
    OT_PID=$!
    track "$OT_PID"
    OT_URL="https://127.0.0.1:$port"
    discovery_xml >"$WORK/discovery.xml"
    wait_for_discovery "$OT_URL" 120 "$OT_PID" \
        || die "OpenTAXII does not answer Discovery (last try: $PROBE_LAST): $(tail -5 "$dir/gunicorn.log")"
    OT_STARTUP_MS=$(ms_between "$t0" "$(now_ns)")
    # JWT: OpenTAXII's cheap per-request auth (its Basic auth runs a 260,000-round
    # PBKDF2 on every request).
    OT_TOKEN=$(curl -sS --cacert "$CA_CRT" -H 'Content-Type: application/json' \
        -d "{\"username\": \"$BENCH_USER\", \"password\": \"$BENCH_PASSWORD\"}" \
        "$OT_URL/management/auth" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])') \
        || die "no JWT from OpenTAXII"
}

# Pids of the gunicorn master and its workers.
opentaxii_pids() { echo "$OT_PID $(pgrep -P "$OT_PID" | tr '\n' ' ')"; }

# --- nginx --------------------------------------------------------------------------------

# Serve one folder over HTTPS with nginx. Usage: start_nginx DIR ROOT PORT. Sets NGINX_PID.
start_nginx() {
    local dir=$1 root=$2 port=$3 i
    mkdir -p "$dir/logs" "$dir/tmp"
    cat >"$dir/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    sendfile on;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $SERVER_CRT;
        ssl_certificate_key $SERVER_KEY;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $root;
        default_type application/xml;
    }
}
EOF
    "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" &
    NGINX_PID=$!
    track "$NGINX_PID"
    for i in $(seq 1 500); do
        curl -s --cacert "$CA_CRT" -o /dev/null "https://127.0.0.1:$port/" 2>/dev/null && return 0
        sleep 0.01
    done
    die "nginx did not start: $(tail -5 "$dir/logs/error.log")"
}
