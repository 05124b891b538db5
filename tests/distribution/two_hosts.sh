#!/usr/bin/env bash
# Two "hosts" on one machine: two Linux network namespaces joined by a veth pair, each with its
# own address (and hostname), and a 2-process job across them over TCP only (--mca btl tcp,self).
# mpirun runs in the first namespace and starts its daemon in the second through a launch agent
# that enters that namespace, where a real cluster would use ssh; the hostfile is an ordinary one.
#   two_hosts.sh MPIEXEC PROGRAM [ARGS...]
# Exit 77 (CTest's SKIP_RETURN_CODE) with a message where namespaces cannot be created.
set -euo pipefail
mpiexec=$1
shift
tag="md$$"
ns_a="${tag}a" ns_b="${tag}b"
work=$(mktemp -d)
cleanup() {
  ip netns del "$ns_a" 2>/dev/null || true
  ip netns del "$ns_b" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Two namespaces, a veth pair between them, an address on each end.
make_hosts() {
  command -v ip >/dev/null || { echo "no ip command (iproute2)"; return 1; }
  ip netns add "$ns_a" || return 1
  ip netns add "$ns_b" || return 1
  ip link add "${tag}va" type veth peer name "${tag}vb" || return 1
  ip link set "${tag}va" netns "$ns_a" || return 1
  ip link set "${tag}vb" netns "$ns_b" || return 1
  ip -n "$ns_a" addr add 10.231.7.1/24 dev "${tag}va" || return 1
  ip -n "$ns_b" addr add 10.231.7.2/24 dev "${tag}vb" || return 1
  for ns in "$ns_a" "$ns_b"; do ip -n "$ns" link set lo up || return 1; done
  ip -n "$ns_a" link set "${tag}va" up || return 1
  ip -n "$ns_b" link set "${tag}vb" up || return 1
}
if ! make_hosts >"$work/why" 2>&1; then
  echo "SKIP: cannot create two network namespaces joined by a veth pair here ($(tr '\n' ' ' <"$work/why"));" \
       "this test needs root (or CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2."
  exit 77
fi

# The launch agent mpirun calls as `agent HOST COMMAND...` (in place of ssh): it runs COMMAND in
# the second namespace, under that host's own hostname.
cat > "$work/agent" <<AGENT
#!/bin/sh
host=\$1
shift
exec ip netns exec "$ns_b" unshare --uts sh -c "hostname hostb; \$*"
AGENT
chmod +x "$work/agent"
printf '10.231.7.1 slots=1\n10.231.7.2 slots=1\n' > "$work/hostfile"

echo "two hosts: 10.231.7.1 (namespace $ns_a) and 10.231.7.2 (namespace $ns_b), TCP over a veth pair"
ip netns exec "$ns_a" unshare --uts sh -c 'hostname hosta; exec "$@"' sh \
  "$mpiexec" --allow-run-as-root --hostfile "$work/hostfile" -np 2 \
  --mca plm_rsh_agent "$work/agent" --mca btl tcp,self --mca btl_tcp_if_include 10.231.7.0/24 \
  --mca oob_tcp_if_include 10.231.7.0/24 -x "OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}" -x "OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}" \
  "$@"
