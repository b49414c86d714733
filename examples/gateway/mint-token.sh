#!/bin/sh
# Mints an HS256 token the example's `jwt` middleware accepts (needs openssl).
#   ./mint-token.sh alice            # valid for an hour
#   ./mint-token.sh bob 60           # valid for a minute
#   EXP=1 ./mint-token.sh alice      # already expired (exp = 1970-01-01T00:00:01Z)
#   JWT_SECRET=other ./mint-token.sh alice   # signed with the wrong secret
set -eu
secret=${JWT_SECRET:-wharf-demo-secret-change-me}
sub=${1:?usage: mint-token.sh SUB [TTL_SECONDS]}
ttl=${2:-3600}
now=$(date +%s)
exp=${EXP:-$((now + ttl))}
iat=${IAT:-$now}
[ "$iat" -gt "$exp" ] && iat=0
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
payload=$(printf '{"sub":"%s","iss":"wharf-demo","aud":"api","iat":%s,"exp":%s}' "$sub" "$iat" "$exp" | b64url)
sig=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -hmac "$secret" -binary | b64url)
echo "$header.$payload.$sig"
