# shellcheck shell=bash
# shellcheck disable=SC2154 # repo_root, work, sipedged_bin and spawned_pid come from tools/lib.sh
# Helpers for the runs through sipedge in front of Kamailio over IPv6 and toward a TLS core (tools/browser/
# against-sipedge.sh, tools/browser/tls-core.sh). Source it after tools/lib.sh (it uses spawn, start_kamailio and
# $repo_root, $work, $sipedged_bin from there).
#
#   free_port6                        a free TCP port on [::1]
#   free_udp_pair6                    a UDP port p with p and p+1 free on [::1] (two workers' sockets toward the core)
#   wait_tcp6 PORT                    wait (≤ 10 s) until something listens on [::1]:PORT
#   start_sipedged6 LOG PORT ARGS...  as lib.sh's start_sipedged, waiting on [::1]:PORT
#   make_test_pki DIR                 a test CA (DIR/ca.pem) and, signed by it, two certificates with their keys:
#                                     DIR/core.pem for "core.test" (IP SANs 127.0.0.1 and ::1; Kamailio's TLS
#                                     listener) and DIR/edge.pem for "edge.test", localhost, 127.0.0.1 and ::1
#                                     (sipedge's wss listener, and its client certificate toward the core)
#   write_core_tls_cfg DIR MUTUAL     DIR/kamailio-tls.cfg, the tls module's file for deploy/kamailio/tls-core.cfg:
#                                     core.test's certificate; MUTUAL=yes also asks for the client's certificate
#                                     and refuses the handshake without one from the test CA
#   start_tls_core PORT DIR           Kamailio with deploy/kamailio/tls-core.cfg on tls:127.0.0.1:PORT and
#                                     DIR/kamailio-tls.cfg, until it listens (log: $work/kamailio-tls.log)
#   sip_over_tls PORT NAME CA [CERT KEY]
#                                     an OPTIONS and a REGISTER sent to 127.0.0.1:PORT over TLS by openssl s_client,
#                                     which checks the server's certificate against CA and NAME (and presents CERT
#                                     and KEY when given); prints the status lines that came back, and the client's
#                                     verification error when it refused the server

free_port6() {
  python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0)); print(s.getsockname()[1])'
}

free_udp_pair6() {
  python3 -c '
import socket
while True:
    a = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    a.bind(("::1", 0))
    p = a.getsockname()[1]
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).bind(("::1", p + 1))
        print(p)
        break
    except OSError:
        a.close()
'
}

wait_tcp6() {
  local _
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/::1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listens on [::1]:$1" >&2
  return 1
}

start_sipedged6() {
  local log=$1 port=$2
  shift 2
  spawn "$sipedged_bin" "$@" >"$log" 2>&1
  # shellcheck disable=SC2034 # for the caller
  sipedged_pid=$spawned_pid
  wait_tcp6 "$port"
}

# One key and certificate signed by the test CA in DIR: test_leaf DIR NAME CN SANS.
test_leaf() {
  local dir=$1 name=$2 cn=$3 sans=$4
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$cn" \
    -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null
  printf '%s\n' "subjectAltName=$sans" basicConstraints=critical,CA:FALSE keyUsage=critical,digitalSignature \
    extendedKeyUsage=serverAuth,clientAuth >"$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
    -extfile "$dir/$name.ext" -out "$dir/$name.pem" 2>/dev/null
}

make_test_pki() {
  local dir=$1
  mkdir -p "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=sipedge test CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  test_leaf "$dir" core core.test "DNS:core.test,IP:127.0.0.1,IP:::1"
  test_leaf "$dir" edge edge.test "DNS:edge.test,DNS:localhost,IP:127.0.0.1,IP:::1"
}

write_core_tls_cfg() {
  local dir=$1 mutual=$2
  cat >"$dir/kamailio-tls.cfg" <<CFG
[server:default]
method = TLSv1.2+
verify_certificate = $mutual
require_certificate = $mutual
certificate = $dir/core.pem
private_key = $dir/core.key
ca_list = $dir/ca.pem

# The requests the core routes back to the edge (along Path and Record-Route) open TLS connections of their own.
[client:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
CFG
}

start_tls_core() {
  local port=$1 dir=$2
  start_kamailio "$repo_root/deploy/kamailio/tls-core.cfg" "$work/kamailio-tls.log" \
    -A "CORE_LISTEN=tls:127.0.0.1:$port" -A "CORE_TLS_CFG=\"$dir/kamailio-tls.cfg\""
  wait_tcp "$port"
}

sip_over_tls() {
  local port=$1 name=$2 ca=$3 auth=()
  [[ $# -ge 5 ]] && auth=(-cert "$4" -key "$5")
  {
    printf '%s\r\n' "OPTIONS sip:127.0.0.1:$port SIP/2.0" \
      "Via: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bKprobe1;rport" "Max-Forwards: 70" \
      "From: <sip:probe@example.test>;tag=p1" "To: <sip:127.0.0.1:$port>" "Call-ID: probe-$port@tls-core" \
      "CSeq: 1 OPTIONS" "Content-Length: 0" ""
    printf '%s\r\n' "REGISTER sip:example.test SIP/2.0" \
      "Via: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bKprobe2;rport" "Max-Forwards: 70" \
      "From: <sip:carol@example.test>;tag=p2" "To: <sip:carol@example.test>" "Call-ID: reg-$port@tls-core" \
      "CSeq: 1 REGISTER" "Contact: <sip:carol@127.0.0.1:5999;transport=tls>" "Expires: 60" "Content-Length: 0" ""
    sleep 1
  } | timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername "$name" -verify_hostname "$name" \
    -CAfile "$ca" -verify_return_error "${auth[@]}" -quiet -no_ign_eof 2>&1 |
    grep -E '^SIP/2\.0 |verify error|alert' || true
}
