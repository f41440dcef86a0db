#!/usr/bin/env bash
# Self-check of the test peers (not of secmat): starts each peer on port 0,
# pokes it with curl, stops it, and prints `N passed, N failed`.
#
#   npm ci --prefix testpeers --no-audit --no-fund && testpeers/smoke.sh
set -u
cd "$(dirname "$0")"
[ -d node_modules ] || { echo "test peers not installed: run npm ci --prefix testpeers" >&2; exit 2; }

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

passed=0
failed=0
check() { # check NAME CONDITION-EXIT-STATUS [DETAIL]
  if [ "$2" = 0 ]; then passed=$((passed + 1)); echo "ok   $1"
  else failed=$((failed + 1)); echo "FAIL $1 ${3:-}"; fi
}
is() { [ "$1" = "$2" ]; echo $?; }

# start NAME FILE [ENV=VALUE...] -> sets $BASE
start() {
  local name=$1 file=$2; shift 2
  env "$@" node "$file" 0 >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PIDS+=($!)
  local port=
  for _ in $(seq 300); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$WORK/$name.out")
    [ -n "$port" ] && break
    sleep 0.1
  done
  if [ -z "$port" ]; then echo "FAIL $name did not start:"; cat "$WORK/$name.err"; exit 1; fi
  BASE=http://127.0.0.1:$port
}

# json FIELD: reads JSON on stdin, prints a (dotted) field, "" when missing
json() { node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    let v; try { v = JSON.parse(s); for (const k of process.argv[1].split(".")) v = v?.[k]; } catch {}
    process.stdout.write(v === undefined || v === null ? "" : typeof v === "object" ? JSON.stringify(v) : String(v));
  });' "$1"; }
# claim TOKEN FIELD: a claim of a JWT (payload not verified)
claim() { node -e 'const p = JSON.parse(Buffer.from(process.argv[1].split(".")[1] ?? "", "base64url")); const v = p[process.argv[2]]; process.stdout.write(v === undefined ? "" : String(v));' "$1" "$2" 2>/dev/null; }

# status-and-body: `curl -s -w '\n%{http_code}'` splits into BODY and CODE
req() { local out; out=$(curl -s -w '\n%{http_code}' "$@"); CODE=${out##*$'\n'}; BODY=${out%$'\n'*}; }

SPECIAL='s3c:r%t+/=&?'
SPECIAL_ENC='s3c%3Ar%25t%2B%2F%3D%26%3F' # form-urlencoded (RFC 6749 2.3.1)

# --- oidc-provider ---
start oidc oidc.mjs
OIDC=$BASE
check "oidc prints exactly one stdout line" "$(is "$(wc -l <"$WORK/oidc.out")" 1)"
req -u basic-client:basic-secret -d grant_type=client_credentials -d scope=api:read "$OIDC/token"
check "oidc basic token 200" "$(is "$CODE" 200)" "$CODE $BODY"
TOKEN=$(json access_token <<<"$BODY")
check "oidc token is RS256 JWT with aud=urn:peers:api" "$(is "$(claim "$TOKEN" aud)/$(claim "$TOKEN" client_id)" "urn:peers:api/basic-client")"
check "oidc expires_in 3600" "$(is "$(json expires_in <<<"$BODY")" 3600)"
STATS=$(curl -s "$OIDC/__peer/stats")
check "oidc counted the request" "$(is "$(json token_requests <<<"$STATS")/$(json token_success <<<"$STATS")/$(json by_client.basic-client <<<"$STATS")/$(json by_auth.basic <<<"$STATS")" 1/1/1/1)" "$STATS"

req -u "special-client:$SPECIAL_ENC" -d grant_type=client_credentials "$OIDC/token"
check "special-client, form-urlencoded Basic: 200" "$(is "$CODE" 200)" "$CODE $BODY"
req -u "special-client:$SPECIAL" -d grant_type=client_credentials "$OIDC/token"
check "special-client, raw Basic secret: 400" "$(is "$CODE" 400)" "$CODE $BODY"
req --data-urlencode grant_type=client_credentials --data-urlencode client_id=special-post-client --data-urlencode "client_secret=$SPECIAL" "$OIDC/token"
check "special-post-client in body: 200" "$(is "$CODE" 200)" "$CODE $BODY"
req -d grant_type=client_credentials -d client_id=post-client -d client_secret=post-secret -d resource=https://api.example.test/v1 "$OIDC/token"
check "resource becomes aud" "$(is "$(claim "$(json access_token <<<"$BODY")" aud)" https://api.example.test/v1)" "$CODE $BODY"
req -u basic-client:basic-secret -d grant_type=client_credentials -d resource=https://forbidden.example.test/ "$OIDC/token"
check "forbidden resource: 400 invalid_target" "$(is "$CODE/$(json error <<<"$BODY")" 400/invalid_target)" "$CODE $BODY"
req -u basic-client:WRONG -d grant_type=client_credentials "$OIDC/token"
check "wrong secret: 401 invalid_client" "$(is "$CODE/$(json error <<<"$BODY")" 401/invalid_client)" "$CODE $BODY"
STATS=$(curl -s "$OIDC/__peer/stats")
check "oidc counts every outcome" "$(is "$(json token_requests <<<"$STATS")/$(json token_success <<<"$STATS")/$(json token_errors <<<"$STATS")" 7/4/3)" "$STATS"
LAST=$(curl -s "$OIDC/__peer/requests" | json requests | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);const x=r[1];console.log([x.auth,x.client_id,x.basic_raw_id,x.grant_type,x.status].join(" "))})')
check "oidc records Basic id decoded" "$(is "$LAST" "basic special-client special-client client_credentials 200")" "$LAST"
curl -s -X POST "$OIDC/__peer/reset" >/dev/null
check "oidc reset" "$(is "$(curl -s "$OIDC/__peer/stats" | json token_requests)" 0)"
req -u short-client:short-secret -d grant_type=client_credentials "$OIDC/token"
check "short-client expires_in 5" "$(is "$(json expires_in <<<"$BODY")" 5)" "$BODY"

start oidc-strict oidc.mjs PEER_STRICT_AUTH=1 SHORT_TTL=2
STRICT=$BASE
req -d grant_type=client_credentials -d client_id=basic-client -d client_secret=basic-secret "$BASE/token"
check "strict: basic client using post -> 401" "$(is "$CODE/$(json error <<<"$BODY")" 401/invalid_client)" "$CODE $BODY"
req -u basic-client:basic-secret -d grant_type=client_credentials "$BASE/token"
check "strict: basic client using basic -> 200" "$(is "$CODE" 200)" "$CODE $BODY"

# --- oauth2-mock-server ---
start mock mock.mjs TOKEN_TTL=120
MOCK=$BASE
req -H 'Content-Type: application/json' -d '{"grant_type":"client_credentials","client_id":"any","client_secret":"x","scope":"a b"}' "$MOCK/token"
check "mock JSON body: 200, scope echoed" "$(is "$CODE/$(json scope <<<"$BODY")" "200/a b")" "$CODE $BODY"
check "mock expires_in follows TOKEN_TTL" "$(is "$(json expires_in <<<"$BODY")" 120)" "$BODY"
MTOKEN=$(json access_token <<<"$BODY")
check "mock JWT exp = iat + TOKEN_TTL" "$(is $(($(claim "$MTOKEN" exp) - $(claim "$MTOKEN" iat))) 120)"
STATS=$(curl -s "$MOCK/__peer/stats")
check "mock counted (auth=post, client any)" "$(is "$(json token_requests <<<"$STATS")/$(json by_auth.post <<<"$STATS")/$(json by_client.any <<<"$STATS")" 1/1/1)" "$STATS"

# --- resource server ---
start resource resource.mjs "RS_JWKS=$OIDC/jwks,$MOCK/jwks,$STRICT/jwks"
RS=$BASE
req -u short-client:short-secret -d grant_type=client_credentials "$STRICT/token"
STOKEN=$(json access_token <<<"$BODY") # expires 2 s after issue
req -H "Authorization: Bearer $STOKEN" "$RS/x"
check "short-lived JWT accepted while valid" "$(is "$CODE" 200)" "$CODE $BODY"
req -H "Authorization: Bearer $TOKEN" "$RS/api/items?page=2"
check "resource accepts an oidc JWT" "$(is "$CODE/$(json token.client_id <<<"$BODY")/$(json query.page <<<"$BODY")" 200/basic-client/2)" "$CODE $BODY"
req -H "Authorization: Bearer $MTOKEN" "$RS/x"
check "resource accepts a mock JWT" "$(is "$CODE" 200)" "$CODE $BODY"
HDR=$(curl -s -o /dev/null -D - -H 'Authorization: Bearer garbage' "$RS/api")
check "resource rejects garbage: 401 + WWW-Authenticate" "$(echo "$HDR" | grep -qi '^www-authenticate: Bearer realm="testpeers", error="invalid_token"' ; echo $?)" "$HDR"
req "$RS/api"
check "resource without token: 401" "$(is "$CODE" 401)"
req -H "Authorization: Bearer $TOKEN" "$RS/status/503"
check "/status/503" "$(is "$CODE" 503)"
req -H "Authorization: Bearer $TOKEN" --data-binary @resource.mjs "$RS/upload"
check "upload counts bytes" "$(is "$(json body_bytes <<<"$BODY")" "$(wc -c <resource.mjs | tr -d ' ')")" "$BODY"
check "download streams N bytes" "$(is "$(curl -s -H "Authorization: Bearer $TOKEN" "$RS/download?bytes=1000000" | wc -c | tr -d ' ')" 1000000)"
START=$(date +%s%N)
req -H "Authorization: Bearer $TOKEN" "$RS/x?delay_ms=300"
check "delay_ms delays" "$([ "$CODE" = 200 ] && [ $(( ($(date +%s%N) - START) / 1000000 )) -ge 300 ]; echo $?)"
curl -s --max-time 1 "$RS/hang" >/dev/null
check "/hang hangs (curl times out)" "$(is $? 28)"
sleep 1 # with /hang's 1 s and delay_ms, >= 2 s since the short token was issued
req -H "Authorization: Bearer $STOKEN" "$RS/x"
check "expired JWT rejected" "$(is "$CODE" 401)" "$CODE $BODY"
curl -s -X POST --data-binary "$TOKEN" "$RS/__peer/revoke" >/dev/null
req -H "Authorization: Bearer $TOKEN" "$RS/x"
check "revoked token rejected" "$(is "$CODE" 401)"
STATS=$(curl -s "$RS/__peer/stats")
check "resource stats" "$(is "$(json resource_requests <<<"$STATS")/$(json resource_success <<<"$STATS")/$(json resource_errors <<<"$STATS")" 12/6/5)" "$STATS"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
