// A small rtnetlink client for the kernel driver's LAN side: what sluice needs
// to configure its TUN device, and nothing more (no libnl). Each request
// carries NLM_F_ACK and waits for the kernel's answer, so a call returns only
// once the change is made or refused; a refusal becomes one line naming the
// operation, the object and the errno text, e.g.
//   "add 10.0.0.1/24 to sl0: File exists"
// with the kernel's extended-ACK message appended in parentheses when it
// sends one.
//
// Namespaces: the socket belongs to the network namespace of the thread that
// called Netlink::open, and everything it does happens there. Names are
// turned into indexes (if_nametoindex) in the calling thread's namespace, so
// a thread that moves to another namespace opens a new Netlink there.
//
// Control plane only: requests are synchronous system calls and error paths
// build strings. Nothing here is meant for an lcore.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/ip_prefix.hpp"

struct nlmsghdr;

namespace sluice {

// An interface given by name or by index, whichever the caller has; the other
// is looked up when a request needs it (the index for the request, the name
// for the message).
class LinkRef {
public:
    LinkRef(int index) : index_(index) {}              // NOLINT(google-explicit-constructor)
    LinkRef(std::string_view name) : name_(name) {}    // NOLINT(google-explicit-constructor)
    LinkRef(const char* name) : name_(name) {}         // NOLINT(google-explicit-constructor)
    LinkRef(const std::string& name) : name_(name) {}  // NOLINT(google-explicit-constructor)

    [[nodiscard]] int index() const noexcept { return index_; }               // 0: not given
    [[nodiscard]] const std::string& name() const noexcept { return name_; }  // "": not given

private:
    int index_ = 0;
    std::string name_;
};

// The outcome of one request: error is 0 or a positive errno (from the kernel
// or from looking up the interface); message is the one line for a log or a
// user, empty on success.
struct NetlinkStatus {
    int error = 0;
    std::string message;

    [[nodiscard]] bool ok() const noexcept { return error == 0; }
    explicit operator bool() const noexcept { return ok(); }
};

enum class AddressMode : uint8_t {
    exclusive,  // an address already on the interface is an error (EEXIST), as `ip addr add`
    replace,    // an address already there is updated in place, as `ip addr replace`
};

class Netlink {
public:
    // Opens a NETLINK_ROUTE socket in the current network namespace, or
    // returns null with `error` set to one line.
    static std::unique_ptr<Netlink> open(std::string* error);
    ~Netlink();
    Netlink(const Netlink&) = delete;
    Netlink& operator=(const Netlink&) = delete;

    // The index of an interface in this namespace (ENODEV when there is none).
    NetlinkStatus link_index(const LinkRef& link, int* index);

    NetlinkStatus set_mtu(const LinkRef& link, uint32_t mtu);
    NetlinkStatus set_link_up(const LinkRef& link, bool up);

    // Interface addresses keep their host bits (10.0.0.1/24: the address
    // 10.0.0.1 on the subnet 10.0.0.0/24). IPv6 addresses are added without
    // duplicate address detection (IFA_F_NODAD): on a point-to-point TUN no
    // other node can hold the address (the kernel skips DAD on IFF_NOARP
    // links anyway), and on any other link the address would refuse traffic
    // for the second or so DAD takes. Even so an IPv6 address becomes usable
    // a moment after the ACK, from a kernel work queue; lookup_route() tells
    // when (TunPort::create waits for it).
    NetlinkStatus add_address(const LinkRef& link, const IpPrefix& address,
                              AddressMode mode = AddressMode::exclusive);
    NetlinkStatus delete_address(const LinkRef& link, const IpPrefix& address);
    // Every address on the interface, IPv4 and IPv6, in the kernel's order;
    // link-local addresses the kernel added itself are included.
    NetlinkStatus list_addresses(const LinkRef& link, std::vector<IpPrefix>* out);

    // A route in the main table to `destination` (host bits are cleared, as
    // the kernel requires) straight out of the interface, no gateway:
    // `ip route add 10.1.0.0/16 dev sl0`.
    NetlinkStatus add_route(const IpPrefix& destination, const LinkRef& link);
    NetlinkStatus delete_route(const IpPrefix& destination, const LinkRef& link);

    // What the kernel would do with a packet to `destination` now, as
    // `ip route get`: deliver it locally, or send it out of interface `oif`.
    // No route is ENETUNREACH.
    struct RouteLookup {
        bool local = false;  // one of this namespace's own addresses
        int oif = 0;         // the interface it leaves by (lo for a local address)
    };
    NetlinkStatus lookup_route(const IpAddress& destination, RouteLookup* out);

private:
    explicit Netlink(int fd);

    struct Request;
    struct Resolved {
        int index = 0;
        std::string name;      // for messages: the name, or "ifindex N"
        int lookup_error = 0;  // ENODEV when the interface is not in this namespace
    };
    [[nodiscard]] Resolved resolve(const LinkRef& link) const;
    // The status for `what` ("add 10.0.0.1/24 to sl0") after `error`.
    static NetlinkStatus finish(int error, const std::string& what, const std::string& detail);
    // Sends one request and reads until its ACK (or, for a dump, NLMSG_DONE);
    // every other message of the answer goes to on_message. Returns 0 or a
    // positive errno; `detail` gets the kernel's extended-ACK text, if any.
    int transact(Request& request, const std::function<void(const nlmsghdr&)>& on_message,
                 std::string* detail);
    NetlinkStatus link_request(const Resolved& link, const std::string& what, uint32_t mtu,
                               std::optional<bool> up);
    NetlinkStatus address_request(uint16_t type, uint16_t flags, const Resolved& link,
                                  const IpPrefix& address, const std::string& what);
    NetlinkStatus route_request(uint16_t type, uint16_t flags, const IpPrefix& destination,
                                const Resolved& link, const std::string& what);

    int fd_ = -1;
    uint32_t seq_ = 0;
    std::vector<unsigned char> rx_;  // one receive buffer, large enough for a dump part
};

}  // namespace sluice
