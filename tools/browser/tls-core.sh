#!/usr/bin/env bash
# Shows that Kamailio as a TLS core (deploy/kamailio/tls-core.cfg, Debian's kamailio-tls-modules) answers SIP over
# TLS from a client that is not sipedge (openssl s_client), with a test CA made here:
#   1. server authentication: OPTIONS and REGISTER both answered 200 when the client checks the name "core.test";
#      a client checking another name ("wrong.test") refuses the server before sending anything;
#   2. mutual TLS (the core requires a client certificate from the test CA): answered with edge.test's
#      certificate, refused without one.
# Starts and stops its own Kamailio on free loopback ports.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
source "$here/../lib.sh"
# shellcheck source=core-lib.sh
source "$here/core-lib.sh"
fail=0
pki=$work/pki
make_test_pki "$pki"

# check WHAT EXPECTED GOT: one ok/FAIL line.
check() {
  if [[ "$3" == "$2" ]]; then
    echo "ok   tls-core $1"
  else
    echo "FAIL tls-core $1: expected [$2], got [$3]"
    fail=1
  fi
}
answers() { grep -c '^SIP/2\.0 200 OK' <<<"$1" || true; }

write_core_tls_cfg "$pki" no
port=$(free_port)
start_tls_core "$port" "$pki"
got=$(sip_over_tls "$port" core.test "$pki/ca.pem")
check "OPTIONS and REGISTER over TLS, name core.test: 200 OK to both" 2 "$(answers "$got")"
got=$(sip_over_tls "$port" wrong.test "$pki/ca.pem")
check "a client checking the name wrong.test: no answer" 0 "$(answers "$got")"
check "a client checking the name wrong.test: hostname mismatch" 1 "$(grep -c 'hostname mismatch' <<<"$got" || true)"
stop_kamailio

write_core_tls_cfg "$pki" yes
port=$(free_port)
start_tls_core "$port" "$pki"
got=$(sip_over_tls "$port" core.test "$pki/ca.pem" "$pki/edge.pem" "$pki/edge.key")
check "mutual TLS with edge.test's certificate: 200 OK to both" 2 "$(answers "$got")"
got=$(sip_over_tls "$port" core.test "$pki/ca.pem")
check "mutual TLS without a client certificate: no answer" 0 "$(answers "$got")"
check "mutual TLS without a client certificate: the core's alert" 1 "$(grep -c 'certificate required' <<<"$got" || true)"
stop_kamailio
[[ $fail == 0 ]] || tail -20 "$work/kamailio-tls.log"
exit $fail
