#include "control/l2_control.hpp"

#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <atomic>
#include <cstring>

#include "drivers/dpdk/l2_frames.hpp"
#include "drivers/mbuf_endpoint.hpp"

namespace sluice {

namespace {

constexpr unsigned kPuntRingSize = 1024;
constexpr unsigned kPuntBurst = 64;

MacAddress mac_of(const rte_ether_addr& a) {
    MacAddress m;
    std::memcpy(m.data(), a.addr_bytes, m.size());
    return m;
}

IpAddress ip_of(uint8_t family, const uint8_t* a) {
    return IpAddress::of(static_cast<IpFamily>(family), a);  // IpFamily counts 4 and 6
}

}  // namespace

L2Control::L2Control(NeighbourOptions options) : options_(options) {}

L2Control::~L2Control() {
    shutdown();
    for (auto& link : links_) {
        for (rte_ring* r : link->rings) rte_ring_free(r);
        delete link->shared->table.exchange(nullptr);
    }
}

std::unique_ptr<L2Link> L2Control::make_link(const std::string& name, uint16_t queues,
                                             const PortConfig& config, uint16_t tunnel_mtu,
                                             int control_wake_fd, std::string* error) {
    auto link = std::make_unique<Link>();
    link->name = name;
    link->shared = std::make_unique<NeighbourShared>();
    link->resolver = NeighbourResolver(options_);
    auto out = std::make_unique<L2Link>();
    for (uint16_t q = 0; q < queues; ++q) {
        static unsigned serial = 0;  // a fallback may make a port's link twice
        const std::string ring_name = "punt_" + name + std::to_string(serial++);
        rte_ring* r = rte_ring_create(ring_name.c_str(), kPuntRingSize, SOCKET_ID_ANY,
                                      RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (r == nullptr) {
            for (rte_ring* made : link->rings) rte_ring_free(made);
            if (error) *error = name + ": cannot create the ring to the control thread (" +
                                rte_strerror(rte_errno) + ")";
            return nullptr;
        }
        link->rings.push_back(r);
    }
    out->addresses = config.addresses;
    out->gateway = config.gateway;
    for (const StaticRoute& r : config.routes) out->routes.push_back(L2Route{r.to, r.via});
    out->tunnel_mtu = tunnel_mtu;
    out->neighbours = link->shared.get();
    out->punt = link->rings;
    out->control_wake_fd = control_wake_fd;
    links_.push_back(std::move(link));
    return out;
}

void L2Control::attach(const std::string& name, FramedPort& port, Command::Target target,
                       const std::vector<StaticNeighbour>& statics) {
    for (auto& link : links_) {
        if (link->name != name) continue;
        link->port = &port;
        link->target = target;
        for (const StaticNeighbour& s : statics) link->resolver.add_static(s.address, s.mac);
        publish(*link);
    }
}

// ---- The round ------------------------------------------------------------------------------

void L2Control::poll(Time now) {
    for (auto& link : links_) {
        if (link->port == nullptr) continue;
        drain(*link, now);
        NeighbourActions actions;
        link->resolver.tick(now, actions);
        carry_out(*link, actions);
    }
}

std::optional<L2Control::Time> L2Control::next_deadline() const {
    std::optional<Time> next;
    for (const auto& link : links_) {
        const auto d = link->resolver.next_deadline();
        if (d && (!next || *d < *next)) next = d;
    }
    return next;
}

void L2Control::drain(Link& link, Time now) {
    NeighbourActions actions;
    for (rte_ring* ring : link.rings) {
        rte_mbuf* ms[kPuntBurst];
        unsigned n;
        while ((n = rte_ring_sc_dequeue_burst(ring, reinterpret_cast<void**>(ms), kPuntBurst,
                                              nullptr)) > 0) {
            for (unsigned i = 0; i < n; ++i) {
                rte_mbuf* m = ms[i];
                const MbufEndpoint& ep = *mbuf_endpoint(m);
                if (ep.reserved == static_cast<uint8_t>(Punt::await_neighbour) &&
                    (ep.family == 4 || ep.family == 6)) {
                    link.resolver.want(ip_of(ep.family, ep.addr), m, now, actions);
                } else {
                    learn(link, m, now, actions);
                    rte_pktmbuf_free(m);
                }
            }
        }
    }
    carry_out(link, actions);
}

// What an ARP or ND frame says about its sender. Only what is addressed to
// one of our addresses creates an entry; the rest refreshes entries we have.
void L2Control::learn(Link& link, rte_mbuf* m, Time now, NeighbourActions& actions) {
    const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
    const uint32_t len = rte_pktmbuf_data_len(m);
    l2::ArpInfo arp;
    if (l2::parse_arp(p, len, &arp)) {
        static const uint8_t kZero[4] = {};
        if (std::memcmp(arp.sender_ip, kZero, 4) == 0) return;  // an address probe (RFC 5227)
        const bool for_us = link.port->own_address(4, arp.target_ip) != nullptr;
        link.resolver.learned(ip_of(4, arp.sender_ip), mac_of(arp.sender_mac), for_us, now, actions);
        return;
    }
    l2::NdInfo nd;
    if (!l2::parse_nd(p, len, &nd)) return;
    if (nd.type == l2::kNdAdvert) {
        const rte_ether_addr& mac = nd.has_lladdr ? nd.lladdr : nd.eth_src;
        link.resolver.learned(ip_of(6, nd.target), mac_of(mac), nd.solicited, now, actions);
        return;
    }
    static const uint8_t kUnspecified[16] = {};
    if (nd.has_lladdr && std::memcmp(nd.ip_src, kUnspecified, 16) != 0)
        link.resolver.learned(ip_of(6, nd.ip_src), mac_of(nd.lladdr),
                              link.port->own_address(6, nd.target) != nullptr, now, actions);
}

void L2Control::carry_out(Link& link, NeighbourActions& actions) {
    for (const IpAddress& a : actions.solicit) solicit(link, a);
    for (auto& r : actions.release) {
        for (void* packet : r.packets) {
            auto* m = static_cast<rte_mbuf*>(packet);
            std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), r.mac.data(), r.mac.size());
            send_frame(link, m);
        }
    }
    for (void* packet : actions.drop) rte_pktmbuf_free(static_cast<rte_mbuf*>(packet));
    if (actions.table_changed) publish(link);
    actions = NeighbourActions{};
}

// An ARP request (broadcast) or a neighbour solicitation (to the solicited-
// node group), from our address on the target's subnet, else our first of
// its family.
void L2Control::solicit(Link& link, const IpAddress& address) {
    const IpPrefix* from = nullptr;
    for (const IpPrefix& p : link.port->l2()->addresses) {
        if (p.family != address.family) continue;
        if (from == nullptr || p.contains(address)) from = &p;
    }
    if (from == nullptr) {
        ++link.requests_failed;
        return;
    }
    rte_mbuf* m = pool_ != nullptr ? rte_pktmbuf_alloc(pool_) : nullptr;
    if (m == nullptr) {
        ++link.requests_failed;
        return;
    }
    const size_t room = std::max(l2::kMinFrameLen, l2::kNdFrameLen);
    auto* out = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(room)));
    uint32_t len;
    if (address.family == IpFamily::v4) {
        const rte_ether_addr none{};
        len = l2::write_arp(out, l2::kArpRequest, link.port->mac(), from->addr.data(), none,
                            address.addr.data());
    } else {
        len = l2::write_nd_solicit(out, link.port->mac(), from->addr.data(), address.addr.data());
    }
    rte_pktmbuf_trim(m, static_cast<uint16_t>(room - len));
    if (!send_frame(link, m)) ++link.requests_failed;
}

bool L2Control::send_frame(Link& link, rte_mbuf* m) {
    if (!send_) {  // not bound yet: nothing can go out
        rte_pktmbuf_free(m);
        return false;
    }
    Command cmd;
    cmd.kind = Command::Kind::send_frame;
    cmd.port = link.target;
    cmd.m = m;
    return send_(cmd);
}

void L2Control::publish(Link& link) {
    std::vector<NeighbourTable::Entry> entries;
    for (const auto& [address, mac] : link.resolver.usable()) {
        NeighbourTable::Entry e;
        e.key = NeighbourKey::of(static_cast<uint8_t>(address.family), address.addr.data());
        std::memcpy(e.mac.addr_bytes, mac.data(), mac.size());
        entries.push_back(e);
    }
    const NeighbourTable* old =
        link.shared->table.exchange(new NeighbourTable(std::move(entries)), std::memory_order_acq_rel);
    if (old == nullptr) return;
    if (rcu_ != nullptr) {
        rcu_->retire([old] { delete old; });
    } else {
        delete old;  // before the lcores exist
    }
}

std::vector<L2PortStatus> L2Control::status() const {
    std::vector<L2PortStatus> out;
    for (const auto& link : links_) {
        L2PortStatus s;
        s.port = link->name;
        s.neighbours = link->resolver.entries();
        s.counters = link->resolver.counters();
        if (link->port != nullptr) s.l2 = link->port->l2_counters();
        s.requests_failed = link->requests_failed;
        out.push_back(std::move(s));
    }
    return out;
}

void L2Control::shutdown() {
    for (auto& link : links_) {
        for (void* p : link->resolver.take_all_queued()) rte_pktmbuf_free(static_cast<rte_mbuf*>(p));
        for (rte_ring* ring : link->rings) {
            void* m;
            while (rte_ring_sc_dequeue(ring, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
        }
    }
}

}  // namespace sluice
