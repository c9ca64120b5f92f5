#include "perf/perf_tunnel.hpp"

#include <sys/random.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "dataplane/clock.hpp"
#include "dataplane/index_table.hpp"
#include "dataplane/transport.hpp"
#include "perf/perf_traffic.hpp"

namespace sluice::perf {

namespace {

Key random_key() {
    Key k{};
    size_t got = 0;
    while (got < k.size()) {
        const ssize_t n = getrandom(k.data() + got, k.size() - got, 0);
        if (n > 0) got += static_cast<size_t>(n);
    }
    return k;
}


}  // namespace

Tunnels::Tunnels(uint32_t peers, uint16_t mtu, Side a, Side b) : peers_(peers), mtu_(mtu) {
    sides_[0].side = a;
    sides_[1].side = b;
    for (uint32_t p = 0; p < peers; ++p) {
        a_to_b_.push_back(random_key());
        b_to_a_.push_back(random_key());
    }
    for (int s = 0; s < 2; ++s) {
        SideState& st = sides_[s];
        st.shared.reset(new PeerShared[peers]);
        for (uint32_t p = 0; p < peers; ++p) {
            st.keypairs.push_back(s == 0 ? make_keypair(a_to_b_[p], b_to_a_[p])
                                         : make_keypair(b_to_a_[p], a_to_b_[p]));
        }
    }
    // Each keypair's remote index is the other side's local index.
    for (uint32_t p = 0; p < peers; ++p) {
        sides_[0].keypairs[p]->remote_index = sides_[1].keypairs[p]->local_index;
        sides_[1].keypairs[p]->remote_index = sides_[0].keypairs[p]->local_index;
    }
}

Tunnels::~Tunnels() {
    // Lcores have stopped: nothing reads the snapshots any more.
    for (SideState& st : sides_) {
        if (st.rcu != nullptr) st.rcu->synchronize();
        delete st.published.exchange(nullptr);
    }
    for (Key& k : a_to_b_) secure_wipe(k.data(), k.size());
    for (Key& k : b_to_a_) secure_wipe(k.data(), k.size());
}

std::unique_ptr<Keypair> Tunnels::make_keypair(const Key& send, const Key& receive) {
    auto kp = std::make_unique<Keypair>();
    kp->send_key = send;
    kp->receive_key = receive;
    // A random index never handed out before, as the gateway draws them.
    kp->local_index = indices_.insert(true).value();
    kp->we_initiated = true;
    kp->birth_ns = monotonic_ns();
    ++keypairs_made_;
    return kp;
}

bool Tunnels::enable_epochs(const std::vector<uint16_t>& sizes, uint32_t flows, uint32_t count,
                            const rte_ether_addr& b_mac, std::string* error) {
    epochs_on_ = true;
    template_count_ = count;
    const uint16_t largest = *std::max_element(sizes.begin(), sizes.end());
    const uint32_t stride =
        (static_cast<uint32_t>(frame::kEthernetLen + frame::kIpv4Len + frame::kUdpLen +
                               wire::kTransportOverhead + largest + wire::kPaddingMultiple) +
         63u) & ~63u;
    try {
        templates_.resize(peers_);
        epochs_.peers.reserve(peers_);
        slots_.resize(peers_);
        prepared_.assign(peers_, 0);
        frame::UdpLocal a_wan = sides_[0].side.wan;
        const MbufEndpoint& to = sides_[1].side.wan_endpoint;
        TransportCounters counters;
        for (uint32_t p = 0; p < peers_; ++p) {
            TemplateSet& t = templates_[p];
            t.stride = stride;
            t.count = count;
            t.bytes.assign(static_cast<size_t>(stride) * count, 0);
            t.lengths.assign(count, 0);
            Keypair sender;  // counters 0..count-1 on A's send key of tunnel p
            sender.send_key = a_to_b_[p];
            sender.birth_ns = monotonic_ns();
            uint8_t src[4];
            uint8_t dst[4];
            peer_address(0, p, 1, src);
            peer_address(1, p, 2, dst);
            for (uint32_t i = 0; i < count; ++i) {
                uint8_t* f = t.bytes.data() + static_cast<size_t>(stride) * i;
                const uint16_t size = sizes[i % sizes.size()];
                const size_t hdr = frame::kEthernetLen + frame::kIpv4Len + frame::kUdpLen;
                uint8_t* msg = f + hdr;
                uint8_t* inner = msg + wire::kTransportHeaderLen;
                std::memset(inner, 0, size);
                write_inner_ipv4(inner, size, src, dst, static_cast<uint16_t>(1024 + i % flows),
                                 Probe{0, i, 0});
                TransportPacket tp{msg, size, static_cast<uint32_t>(stride - hdr)};
                PacketResult result;
                encrypt_burst(sender, &tp, 1, mtu_, monotonic_ns(), &result, counters);
                if (result.verdict != Verdict::send) {
                    *error = "cannot build the decrypt templates (encrypt refused)";
                    return false;
                }
                frame::write_udp_headers(f, a_wan, b_mac, to, result.length);
                t.lengths[i] = static_cast<uint16_t>(hdr + result.length);
            }
            auto peer = std::make_unique<EpochTable::Peer>();
            // Epochs 0 .. kEpochSlots/2 ready before any lcore runs.
            for (uint64_t e = 0; e <= kEpochSlots / 2; ++e) {
                const unsigned slot = static_cast<unsigned>(e % kEpochSlots);
                slots_[p][slot] = make_keypair(b_to_a_[p], a_to_b_[p]);
                peer->index[slot].store(slots_[p][slot]->local_index, std::memory_order_relaxed);
                peer->ready[slot].store(e + 1, std::memory_order_relaxed);
            }
            prepared_[p] = kEpochSlots / 2;
            epochs_.peers.push_back(std::move(peer));
        }
    } catch (const std::bad_alloc&) {
        *error = "not enough memory for " + std::to_string(count) + " decrypt templates per peer";
        return false;
    }
    return true;
}

void Tunnels::start(Rcu* a, Rcu* b) {
    sides_[0].rcu = a;
    sides_[1].rcu = b;
    publish(0);
    publish(1);
}

void Tunnels::publish(int s) {
    SideState& st = sides_[s];
    auto snap = std::make_unique<Snapshot>();
    snap->generation = ++st.generation;
    snap->mtu = mtu_;
    const int other = 1 - s;
    for (uint32_t p = 0; p < peers_; ++p) {
        PeerView v;
        v.peer_id = p + 1;
        v.shared = &st.shared[p];
        v.current = st.keypairs[p].get();
        v.endpoint = sides_[other].side.wan_endpoint;
        snap->peers.push_back(v);
        snap->position_of[p + 1] = p;
        uint8_t net[4];
        peer_address(static_cast<uint8_t>(other), p, 0, net);
        snap->routes.insert(IpPrefix::v4(net, 24), p);
        (void)snap->by_index.insert_at(st.keypairs[p]->local_index, IndexRef{v.current, p});
        if (s == 1 && epochs_on_) {
            for (const auto& kp : slots_[p])
                if (kp) (void)snap->by_index.insert_at(kp->local_index, IndexRef{kp.get(), p});
        }
    }
    const Snapshot* old = st.published.exchange(snap.release(), std::memory_order_acq_rel);
    if (old != nullptr) st.rcu->retire([old] { delete old; });
}

size_t Tunnels::rotate() {
    if (!epochs_on_) return 0;
    struct Ready {
        uint32_t peer;
        unsigned slot;
        uint64_t epoch;
    };
    std::vector<Ready> ready;
    std::vector<Keypair*> old;
    for (uint32_t p = 0; p < peers_; ++p) {
        const uint64_t g = epochs_.peers[p]->generator_epoch.load(std::memory_order_acquire);
        if (prepared_[p] >= g + kEpochSlots / 4) continue;
        // Up to half the slots ahead; the half behind the generator stays
        // live for packets still in flight.
        for (uint64_t e = prepared_[p] + 1; e <= g + kEpochSlots / 2; ++e) {
            const unsigned slot = static_cast<unsigned>(e % kEpochSlots);
            if (slots_[p][slot]) old.push_back(slots_[p][slot].release());
            slots_[p][slot] = make_keypair(b_to_a_[p], a_to_b_[p]);
            epochs_.peers[p]->index[slot].store(slots_[p][slot]->local_index,
                                                std::memory_order_relaxed);
            ready.push_back({p, slot, e});
        }
        prepared_[p] = g + kEpochSlots / 2;
    }
    if (ready.empty()) return 0;
    publish(1);
    Rcu& rcu = *sides_[1].rcu;
    // After the grace period every lcore reads a snapshot with these keypairs,
    // and none reads one with the old ones.
    rcu.retire([this, ready = std::move(ready), old = std::move(old)] {
        for (const Ready& r : ready)
            epochs_.peers[r.peer]->ready[r.slot].store(r.epoch + 1, std::memory_order_release);
        for (Keypair* kp : old) delete kp;
    });
    return ready.size();
}

}  // namespace sluice::perf
