# Every way out of the box must fail. Prints one line per attempt and then
# "BLOCKED" (exit 0) if all failed, "ESCAPED" (exit 0) otherwise.
import errno, socket

results = []


def attempt(name, fn):
    try:
        detail = fn()
        results.append((name, False, "succeeded: %r" % (detail,)))
    except OSError as e:
        code = errno.errorcode.get(e.errno, e.errno) if isinstance(e.errno, int) and e.errno > 0 else e
        results.append((name, True, str(code)))


def tcp4():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect(("1.1.1.1", 80))
    return s.getsockname()


def tcp6():
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect(("2606:4700:4700::1111", 80))
    return s.getsockname()


def udp4():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    return s.sendto(b"\x00" * 32, ("8.8.8.8", 53))


def udp_broadcast():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    return s.sendto(b"hi", ("255.255.255.255", 9))


def raw_icmp():
    return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)


def packet():
    return socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0x0300)


def netlink_audit():
    return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 9)


def dns():
    return socket.getaddrinfo("example.com", 80)


def interfaces():
    names = [n for _, n in socket.if_nameindex()]
    if names != ["lo"]:
        return names
    raise OSError(errno.ENODEV, "only lo")


for name, fn in [("tcp4_connect_1.1.1.1:80", tcp4), ("tcp6_connect", tcp6), ("udp4_sendto_8.8.8.8:53", udp4),
                 ("udp_broadcast", udp_broadcast), ("raw_icmp_socket", raw_icmp), ("af_packet_socket", packet),
                 ("netlink_audit_socket", netlink_audit), ("dns_example.com", dns), ("non_lo_interfaces", interfaces)]:
    attempt(name, fn)

for name, blocked, detail in results:
    print("%s: %s (%s)" % (name, "blocked" if blocked else "OPEN", detail))
print("BLOCKED" if all(b for _, b, _ in results) else "ESCAPED")
