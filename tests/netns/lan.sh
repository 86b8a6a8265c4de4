#!/bin/sh
# Two network namespaces joined by a veth pair, for trying discovery by hand without sending
# a single mDNS packet onto the machine's real network.
#
#   sudo tests/netns/lan.sh up [NAME]      # creates NAME-a (10.99.0.1) and NAME-b (10.99.0.2)
#   sudo ip netns exec NAME-a target/debug/lancall-host ...
#   sudo ip netns exec NAME-b target/debug/lancall-host discover
#   sudo tests/netns/lan.sh down [NAME]
#
# NAME defaults to "lc-lan". No default route: nothing can leave the pair. The automated tests
# do the same from Rust (hub/tests/discovery_netns/mod.rs) and clean up after themselves.
set -eu

action=${1:-}
name=${2:-lc-lan}
a="$name-a"
b="$name-b"

case "$action" in
up)
    for ns in "$a" "$b"; do
        ip netns add "$ns"
        mkdir -p "/etc/netns/$ns"
        echo "nameserver 127.0.0.1" > "/etc/netns/$ns/resolv.conf"
        ip -n "$ns" link set lo up
        ip netns exec "$ns" sh -c 'echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad; echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad'
    done
    # Created inside the namespaces, so the pair never appears in the machine's own.
    ip -n "$a" link add eth0 type veth peer name eth0 netns "$b"
    ip -n "$a" addr add 10.99.0.1/24 dev eth0
    ip -n "$b" addr add 10.99.0.2/24 dev eth0
    ip -n "$a" link set eth0 up
    ip -n "$b" link set eth0 up
    echo "up: $a (10.99.0.1) <-> $b (10.99.0.2)"
    ;;
down)
    for ns in "$a" "$b"; do
        ip netns delete "$ns" 2>/dev/null || true
        rm -rf "/etc/netns/$ns"
    done
    echo "down: $a $b"
    ;;
*)
    echo "usage: $0 up|down [NAME]" >&2
    exit 2
    ;;
esac
