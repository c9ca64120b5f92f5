// rtnetlink requests built by hand; see netlink.hpp.
#include "drivers/kernel/netlink.hpp"

#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sluice {
namespace {

// A request never waits longer than this for its answer. The kernel answers
// rtnetlink requests synchronously, so hitting it means something is badly
// wrong; the limit turns a hang into a message.
constexpr int kAnswerTimeoutSeconds = 5;

// The kernel sizes a dump's parts to what the reader's recvmsg calls offer
// (up to 32 KiB by default); twice that leaves no part truncated.
constexpr size_t kReceiveBufferBytes = size_t{64} * 1024;

std::string errno_text(int error) {
    return std::strerror(error);
}

int family_of(IpFamily f) {
    return f == IpFamily::v4 ? AF_INET : AF_INET6;
}

// Pulls the kernel's extended-ACK message ("Invalid prefix for given prefix
// length") out of an NLMSG_ERROR, if it sent one.
std::string extended_ack_message(const nlmsghdr& msg) {
    if (!(msg.nlmsg_flags & NLM_F_ACK_TLVS)) return {};
    if (msg.nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) return {};
    const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(&msg));
    // With NETLINK_CAP_ACK the echoed request is only its header; without it
    // the whole request sits between nlmsgerr and the attributes.
    size_t offset = sizeof(nlmsgerr);
    if (!(msg.nlmsg_flags & NLM_F_CAPPED)) offset += err->msg.nlmsg_len - sizeof(nlmsghdr);
    const size_t payload = msg.nlmsg_len - NLMSG_HDRLEN;
    if (offset >= payload) return {};
    const auto* base = reinterpret_cast<const unsigned char*>(err);
    auto* attr = reinterpret_cast<const nlattr*>(base + NLMSG_ALIGN(offset));
    int left = static_cast<int>(payload - NLMSG_ALIGN(offset));
    while (left >= static_cast<int>(sizeof(nlattr)) && attr->nla_len >= sizeof(nlattr) &&
           attr->nla_len <= left) {
        if ((attr->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
            const char* text = reinterpret_cast<const char*>(attr) + NLA_HDRLEN;
            return std::string(text, strnlen(text, attr->nla_len - NLA_HDRLEN));
        }
        left -= NLA_ALIGN(attr->nla_len);
        attr = reinterpret_cast<const nlattr*>(reinterpret_cast<const unsigned char*>(attr) +
                                               NLA_ALIGN(attr->nla_len));
    }
    return {};
}

}  // namespace

// One request message: the netlink header, the family header and its
// attributes, built in place. Every request sluice sends is well under a
// hundred bytes; `overflow` catches a programming error without writing past
// the buffer.
struct Netlink::Request {
    alignas(nlmsghdr) unsigned char buf[256] = {};
    bool overflow = false;

    nlmsghdr* header() { return reinterpret_cast<nlmsghdr*>(buf); }

    template <typename Body>
    Body* start(uint16_t type, uint16_t flags) {
        nlmsghdr* h = header();
        h->nlmsg_len = NLMSG_LENGTH(sizeof(Body));
        h->nlmsg_type = type;
        h->nlmsg_flags = flags;
        return static_cast<Body*>(NLMSG_DATA(h));
    }

    void attr(uint16_t type, const void* data, size_t len) {
        nlmsghdr* h = header();
        const size_t at = NLMSG_ALIGN(h->nlmsg_len);
        if (at + RTA_SPACE(len) > sizeof buf) {
            overflow = true;
            return;
        }
        auto* rta = reinterpret_cast<rtattr*>(buf + at);
        rta->rta_type = type;
        rta->rta_len = static_cast<unsigned short>(RTA_LENGTH(len));
        std::memcpy(RTA_DATA(rta), data, len);
        h->nlmsg_len = static_cast<uint32_t>(at + RTA_SPACE(len));
    }
    void attr_u32(uint16_t type, uint32_t value) { attr(type, &value, sizeof value); }
};

std::unique_ptr<Netlink> Netlink::open(std::string* error) {
    auto fail = [&](const char* step) {
        if (error) *error = std::string("rtnetlink: ") + step + ": " + errno_text(errno);
        return nullptr;
    };
    const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return fail("socket");
    // From here on the object owns fd, so every early return closes it.
    std::unique_ptr<Netlink> nl(new Netlink(fd));
    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;  // nl_pid 0: the kernel picks our port id
    if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) < 0) return fail("bind");
    const timeval timeout{kAnswerTimeoutSeconds, 0};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) < 0) {
        return fail("SO_RCVTIMEO");
    }
    // Optional: the kernel's own words for a refusal, and acks that do not
    // echo the whole request back. Older kernels lack them; errors still work.
    const int on = 1;
    (void)setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof on);
    (void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof on);
    return nl;
}

Netlink::Netlink(int fd) : fd_(fd), rx_(kReceiveBufferBytes) {}

Netlink::~Netlink() {
    if (fd_ >= 0) close(fd_);
}

Netlink::Resolved Netlink::resolve(const LinkRef& link) const {
    Resolved r;
    if (!link.name().empty()) {
        r.name = link.name();
        // if_nametoindex asks through a socket of this process, so it sees
        // this namespace's interfaces, as the netlink socket does.
        errno = 0;
        r.index = link.name().size() < IF_NAMESIZE
                      ? static_cast<int>(if_nametoindex(link.name().c_str()))
                      : 0;
        // ENODEV for a name that is not there (or cannot be: too long); the
        // lookup's own errno when it could not even ask (EMFILE, ...).
        if (r.index == 0) r.lookup_error = errno != 0 ? errno : ENODEV;
        return r;
    }
    r.index = link.index();
    char name[IF_NAMESIZE];
    if (r.index > 0 && if_indextoname(static_cast<unsigned>(r.index), name) != nullptr) {
        r.name = name;
    } else {
        r.name = "ifindex " + std::to_string(r.index);
        r.lookup_error = ENODEV;
    }
    return r;
}

NetlinkStatus Netlink::finish(int error, const std::string& what, const std::string& detail) {
    if (error == 0) return {};
    std::string message = what + ": " + errno_text(error);
    if (!detail.empty()) message += " (" + detail + ")";
    return {error, std::move(message)};
}

int Netlink::transact(Request& request, const std::function<void(const nlmsghdr&)>& on_message,
                      std::string* detail) {
    if (request.overflow) return EMSGSIZE;
    nlmsghdr* h = request.header();
    h->nlmsg_seq = ++seq_;
    const uint32_t seq = h->nlmsg_seq;
    const bool dump = (h->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;

    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    ssize_t sent;
    do {
        sent = sendto(fd_, request.buf, h->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
                      sizeof kernel);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) return errno;

    for (;;) {
        iovec iov{rx_.data(), rx_.size()};
        msghdr mh{};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        const ssize_t got = recvmsg(fd_, &mh, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            // SO_RCVTIMEO expired: report it as the timeout it is.
            return errno == EAGAIN || errno == EWOULDBLOCK ? ETIMEDOUT : errno;
        }
        if (mh.msg_flags & MSG_TRUNC) return EMSGSIZE;
        int left = static_cast<int>(got);
        for (auto* msg = reinterpret_cast<const nlmsghdr*>(rx_.data()); NLMSG_OK(msg, left);
             msg = NLMSG_NEXT(msg, left)) {
            // A late answer to an earlier request that gave up is not ours.
            if (msg->nlmsg_seq != seq) continue;
            if (msg->nlmsg_type == NLMSG_ERROR) {
                if (msg->nlmsg_len < NLMSG_LENGTH(sizeof(int))) return EPROTO;
                const int error = -static_cast<const nlmsgerr*>(NLMSG_DATA(msg))->error;
                if (error != 0 && detail) *detail = extended_ack_message(*msg);
                // error 0 is the ACK of a non-dump request; a dump ends with
                // NLMSG_DONE, but the kernel may refuse one with an error.
                if (error != 0 || !dump) return error;
                continue;
            }
            if (msg->nlmsg_type == NLMSG_DONE) {
                // A dump that failed part-way says so in DONE's payload.
                if (msg->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
                    const int error = -*static_cast<const int*>(NLMSG_DATA(msg));
                    if (error != 0) return error;
                }
                return 0;
            }
            if (on_message) on_message(*msg);
        }
    }
}

NetlinkStatus Netlink::link_index(const LinkRef& link, int* index) {
    const Resolved r = resolve(link);
    if (index) *index = r.index;
    return finish(r.lookup_error, "look up " + r.name, {});
}

NetlinkStatus Netlink::link_request(const Resolved& link, const std::string& what, uint32_t mtu,
                                    std::optional<bool> up) {
    if (link.lookup_error) return finish(link.lookup_error, what, {});
    Request req;
    // RTM_NEWLINK without NLM_F_CREATE changes an existing link, as `ip link set` does.
    auto* ifi = req.start<ifinfomsg>(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK);
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = link.index;
    if (up) {
        ifi->ifi_flags = *up ? static_cast<unsigned>(IFF_UP) : 0u;
        ifi->ifi_change = IFF_UP;
    }
    if (mtu != 0) req.attr_u32(IFLA_MTU, mtu);
    std::string detail;
    return finish(transact(req, nullptr, &detail), what, detail);
}

NetlinkStatus Netlink::set_mtu(const LinkRef& link, uint32_t mtu) {
    const Resolved r = resolve(link);
    const std::string what = "set mtu " + std::to_string(mtu) + " on " + r.name;
    // MTU 0 would read as "leave it" below; the kernel would refuse it anyway.
    if (mtu == 0) return finish(EINVAL, what, "an MTU must be positive");
    return link_request(r, what, mtu, std::nullopt);
}

NetlinkStatus Netlink::set_link_up(const LinkRef& link, bool up) {
    const Resolved r = resolve(link);
    return link_request(r, "set " + r.name + (up ? " up" : " down"), 0, up);
}

NetlinkStatus Netlink::address_request(uint16_t type, uint16_t flags, const Resolved& link,
                                       const IpPrefix& address, const std::string& what) {
    if (!address.valid()) return finish(EINVAL, what, "not a valid address");
    if (link.lookup_error) return finish(link.lookup_error, what, {});
    Request req;
    auto* ifa = req.start<ifaddrmsg>(type, flags);
    ifa->ifa_family = static_cast<uint8_t>(family_of(address.family));
    ifa->ifa_prefixlen = address.length;
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    ifa->ifa_index = static_cast<uint32_t>(link.index);
    if (address.family == IpFamily::v6) ifa->ifa_flags = IFA_F_NODAD;
    const size_t bytes = IpPrefix::address_bytes(address.family);
    // LOCAL is the interface's own address, ADDRESS the peer's on a
    // point-to-point link; the same value in both means "no peer", which is
    // what `ip addr add` sends.
    req.attr(IFA_LOCAL, address.addr.data(), bytes);
    req.attr(IFA_ADDRESS, address.addr.data(), bytes);
    std::string detail;
    return finish(transact(req, nullptr, &detail), what, detail);
}

NetlinkStatus Netlink::add_address(const LinkRef& link, const IpPrefix& address, AddressMode mode) {
    const Resolved r = resolve(link);
    const uint16_t flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE |
                           (mode == AddressMode::exclusive ? NLM_F_EXCL : NLM_F_REPLACE);
    return address_request(RTM_NEWADDR, flags, r, address,
                           "add " + address.to_string() + " to " + r.name);
}

NetlinkStatus Netlink::delete_address(const LinkRef& link, const IpPrefix& address) {
    const Resolved r = resolve(link);
    return address_request(RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK, r, address,
                           "delete " + address.to_string() + " from " + r.name);
}

NetlinkStatus Netlink::list_addresses(const LinkRef& link, std::vector<IpPrefix>* out) {
    const Resolved r = resolve(link);
    const std::string what = "list addresses of " + r.name;
    if (r.lookup_error) return finish(r.lookup_error, what, {});
    Request req;
    auto* ifa = req.start<ifaddrmsg>(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP);
    ifa->ifa_family = AF_UNSPEC;
    // Without NETLINK_GET_STRICT_CHK the kernel dumps every interface's
    // addresses whatever the index says, so the filter below is the real one.
    ifa->ifa_index = static_cast<uint32_t>(r.index);
    std::vector<IpPrefix> found;
    auto collect = [&](const nlmsghdr& msg) {
        if (msg.nlmsg_type != RTM_NEWADDR || msg.nlmsg_len < NLMSG_LENGTH(sizeof(ifaddrmsg))) {
            return;
        }
        const auto* a = static_cast<const ifaddrmsg*>(NLMSG_DATA(&msg));
        if (a->ifa_index != static_cast<uint32_t>(r.index)) return;
        if (a->ifa_family != AF_INET && a->ifa_family != AF_INET6) return;
        const IpFamily family = a->ifa_family == AF_INET ? IpFamily::v4 : IpFamily::v6;
        const size_t bytes = IpPrefix::address_bytes(family);
        const unsigned char* local = nullptr;
        const unsigned char* address = nullptr;
        int left = static_cast<int>(IFA_PAYLOAD(&msg));
        for (const rtattr* rta = IFA_RTA(a); RTA_OK(rta, left); rta = RTA_NEXT(rta, left)) {
            if (RTA_PAYLOAD(rta) != bytes) continue;
            if (rta->rta_type == IFA_LOCAL)
                local = static_cast<const unsigned char*>(RTA_DATA(rta));
            if (rta->rta_type == IFA_ADDRESS) {
                address = static_cast<const unsigned char*>(RTA_DATA(rta));
            }
        }
        // IFA_LOCAL is our own address when present (it differs from
        // IFA_ADDRESS only on point-to-point links with a peer); IPv6 sends
        // IFA_ADDRESS alone.
        const unsigned char* own = local ? local : address;
        if (!own) return;
        found.push_back(family == IpFamily::v4 ? IpPrefix::v4(own, a->ifa_prefixlen)
                                               : IpPrefix::v6(own, a->ifa_prefixlen));
    };
    std::string detail;
    NetlinkStatus status = finish(transact(req, collect, &detail), what, detail);
    if (status.ok() && out) *out = std::move(found);
    return status;
}

NetlinkStatus Netlink::route_request(uint16_t type, uint16_t flags, const IpPrefix& destination,
                                     const Resolved& link, const std::string& what) {
    if (!destination.valid()) return finish(EINVAL, what, "not a valid prefix");
    if (link.lookup_error) return finish(link.lookup_error, what, {});
    const IpPrefix dst = destination.masked();
    Request req;
    auto* rt = req.start<rtmsg>(type, flags);
    rt->rtm_family = static_cast<uint8_t>(family_of(dst.family));
    rt->rtm_dst_len = dst.length;
    rt->rtm_table = RT_TABLE_MAIN;
    if (type == RTM_NEWROUTE) {
        rt->rtm_protocol = RTPROT_STATIC;  // configured, not learned: `proto static`
        rt->rtm_scope = RT_SCOPE_LINK;     // no gateway: the destination is on the link
        rt->rtm_type = RTN_UNICAST;
    } else {
        // As `ip route del` does: match whatever scope, protocol and type it has.
        rt->rtm_scope = RT_SCOPE_NOWHERE;
    }
    // A default route (length 0) carries no destination at all.
    if (dst.length > 0) req.attr(RTA_DST, dst.addr.data(), IpPrefix::address_bytes(dst.family));
    req.attr_u32(RTA_OIF, static_cast<uint32_t>(link.index));
    std::string detail;
    return finish(transact(req, nullptr, &detail), what, detail);
}

NetlinkStatus Netlink::add_route(const IpPrefix& destination, const LinkRef& link) {
    const Resolved r = resolve(link);
    return route_request(RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                         destination, r,
                         "add route " + destination.masked().to_string() + " dev " + r.name);
}

NetlinkStatus Netlink::delete_route(const IpPrefix& destination, const LinkRef& link) {
    const Resolved r = resolve(link);
    return route_request(RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK, destination, r,
                         "delete route " + destination.masked().to_string() + " dev " + r.name);
}

NetlinkStatus Netlink::lookup_route(const IpAddress& destination, RouteLookup* out) {
    const std::string what = "look up the route to " + destination.to_string();
    Request req;
    auto* rt = req.start<rtmsg>(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_ACK);
    rt->rtm_family = static_cast<uint8_t>(family_of(destination.family));
    rt->rtm_dst_len = IpPrefix::max_length(destination.family);
    req.attr(RTA_DST, destination.addr.data(), IpPrefix::address_bytes(destination.family));
    RouteLookup found;
    bool answered = false;
    auto collect = [&](const nlmsghdr& msg) {
        if (msg.nlmsg_type != RTM_NEWROUTE || msg.nlmsg_len < NLMSG_LENGTH(sizeof(rtmsg))) return;
        const auto* r = static_cast<const rtmsg*>(NLMSG_DATA(&msg));
        answered = true;
        found.local = r->rtm_type == RTN_LOCAL;
        int left = static_cast<int>(RTM_PAYLOAD(&msg));
        for (const rtattr* rta = RTM_RTA(r); RTA_OK(rta, left); rta = RTA_NEXT(rta, left)) {
            if (rta->rta_type == RTA_OIF && RTA_PAYLOAD(rta) == sizeof(uint32_t)) {
                uint32_t oif;
                std::memcpy(&oif, RTA_DATA(rta), sizeof oif);
                found.oif = static_cast<int>(oif);
            }
        }
    };
    std::string detail;
    NetlinkStatus status = finish(transact(req, collect, &detail), what, detail);
    if (status.ok() && !answered) status = finish(EPROTO, what, "no route in the answer");
    if (status.ok() && out) *out = found;
    return status;
}

}  // namespace sluice
