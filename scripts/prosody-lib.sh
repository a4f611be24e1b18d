# scripts/prosody-lib.sh — the loopback Prosody that up.sh and bench-e2e.sh both
# write a configuration for: the part they share. Sourced, not run.
# shellcheck shell=bash

# prosody_cfg_base DIR LOG C2S_PORT COMPONENT_PORT IFACE: runs as root with its
# state under DIR, logs as LOG (the inside of log = { }), listens for clients and
# components on IFACE only and on nothing else; no certificates, so plaintext.
prosody_cfg_base() {
  cat <<CFG
run_as_root = true
pidfile = "$1/prosody.pid"
data_path = "$1/data"
certificates = "$1/certs"
log = { $2 }
c2s_ports = { $3 }; c2s_interfaces = { "$5" }
component_ports = { $4 }; component_interfaces = { "$5" }
s2s_ports = { }; c2s_direct_tls_ports = { }; s2s_direct_tls_ports = { }
http_ports = { }; https_ports = { }
-- loopback only: no certificates, so plaintext with PLAIN authentication is allowed
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
CFG
}
