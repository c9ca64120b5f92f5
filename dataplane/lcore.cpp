#include "dataplane/lcore.hpp"

#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <rte_pause.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "dataplane/clock.hpp"
#include "dataplane/pipeline.hpp"
#include "dataplane/wire.hpp"

namespace sluice {

namespace {

uint32_t read_le32(const uint8_t* p) noexcept {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;  // wire.hpp: little-endian hosts only
}

// The inner packet's source (from = true) or destination address, or nullopt
// for something that is not a plausible IPv4/IPv6 header.
bool inner_address(const uint8_t* p, uint32_t len, bool source, IpFamily* family,
                   const uint8_t** addr) noexcept {
    if (len < 1) return false;
    const unsigned version = p[0] >> 4;
    if (version == 4 && len >= 20) {
        *family = IpFamily::v4;
        *addr = p + (source ? 12 : 16);
        return true;
    }
    if (version == 6 && len >= 40) {
        *family = IpFamily::v6;
        *addr = p + (source ? 8 : 24);
        return true;
    }
    return false;
}

}  // namespace

Lcore::~Lcore() {
    if (epoll_fd_ >= 0) close(epoll_fd_);
    if (wake_fd_ >= 0) close(wake_fd_);
}

bool Lcore::init(std::string* error) {
    cfg_.burst = std::clamp<uint16_t>(cfg_.burst, 1, kMaxBurst);
    wan_tx_.reserve(2 * kMaxBurst);
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (wake_fd_ < 0 || epoll_fd_ < 0) {
        if (error) *error = "lcore " + std::to_string(cfg_.lcore_id) + ": " + strerror(errno);
        return false;
    }
    if (cfg_.role != LcoreRole::run_to_completion) {
        // Pipeline mode busy-polls (lcore.hpp); the eventfd stays for wake().
        poll_only_ = true;
        return true;
    }
    const int fds[] = {wake_fd_, cfg_.wan->wait_fd(cfg_.index), cfg_.lan->wait_fd(cfg_.index)};
    poll_only_ = fds[1] < 0 || fds[2] < 0;
    for (int fd : fds) {
        if (fd < 0) continue;  // a port that can only be polled
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
            if (error)
                *error = "lcore " + std::to_string(cfg_.lcore_id) + ": epoll: " + strerror(errno);
            return false;
        }
    }
    return true;
}

void Lcore::wake() const noexcept {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof one);
}

void Lcore::run() {
    Rcu& rcu = *cfg_.rcu;
    rcu.register_thread(cfg_.index);
    rcu.online(cfg_.index);
    const uint64_t hz = rte_get_tsc_hz();
    const uint64_t idle_limit = hz / 1'000'000 * cfg_.busy_poll_us;
    uint64_t start = rte_rdtsc();
    uint64_t last_work = start;
    while (!cfg_.stop->load(std::memory_order_acquire)) {
        rcu.quiescent(cfg_.index);
        const uint64_t t0 = rte_rdtsc();
        bool worked;
        if (cfg_.role == LcoreRole::crypto) {
            worked = crypto_iteration();
        } else {
            const Snapshot* snap = cfg_.snapshot->load(std::memory_order_acquire);
            worked = iteration(*snap, monotonic_ns());
        }
        const uint64_t t1 = rte_rdtsc();
        counters_.total_cycles = t1 - start;
        if (worked) {
            counters_.busy_cycles += t1 - t0;
            last_work = t1;
        } else if (!poll_only_ && t1 - last_work >= idle_limit) {
            sleep();
            last_work = rte_rdtsc();
        }
    }
    rcu.unregister_thread(cfg_.index);
}

void Lcore::sleep() {
    const uint16_t q = cfg_.index;
    if (cfg_.wan->rx_pending(q) || cfg_.lan->rx_pending(q) || rte_ring_count(cfg_.commands) > 0 ||
        (q < cfg_.handoff.size() && cfg_.handoff[q] != nullptr &&
         rte_ring_count(cfg_.handoff[q]) > 0))
        return;
    ++counters_.sleeps;
    cfg_.rcu->offline(cfg_.index);
    epoll_event evs[4];
    // A bounded sleep, so a stop request is seen even if its wake-up is lost.
    const int n = epoll_wait(epoll_fd_, evs, 4, 200);
    for (int i = 0; i < n; ++i) {
        if (evs[i].data.fd == wake_fd_) {
            uint64_t value;
            [[maybe_unused]] ssize_t r = read(wake_fd_, &value, sizeof value);
        }
    }
    cfg_.rcu->online(cfg_.index);
}

bool Lcore::post(const Event& event) {
    if (rte_ring_sp_enqueue_elem(cfg_.events, const_cast<Event*>(&event), sizeof(Event)) != 0) {
        ++counters_.transport.dropped(DropReason::ring_full);
        return false;
    }
    posted_ = true;
    return true;
}

bool Lcore::iteration(const Snapshot& snap, int64_t now) {
    posted_ = false;
    uint16_t moved = cfg_.pipeline != nullptr ? collect_pipeline(snap, now) : 0;
    moved += receive_wan(snap, now);
    moved += receive_lan(snap, now);
    moved += take_commands(snap, now);
    flush_wan();
    // Ports that gather bursts send what has waited long enough, or all of
    // it when this round found nothing to do.
    cfg_.wan->flush(cfg_.index, moved == 0);
    cfg_.lan->flush(cfg_.index, moved == 0);
    if (handed_to_.any() && cfg_.wake_fds != nullptr) {
        for (size_t i = 0; i < cfg_.wake_fds->size(); ++i) {
            if (!handed_to_.test(i)) continue;
            const uint64_t one = 1;
            [[maybe_unused]] ssize_t w = write((*cfg_.wake_fds)[i], &one, sizeof one);
        }
        handed_to_.reset();
    }
    if (posted_) {
        const uint64_t one = 1;
        [[maybe_unused]] ssize_t n = write(cfg_.control_wake_fd, &one, sizeof one);
    }
    return moved > 0;
}

void Lcore::flush_wan() {
    size_t done = 0;
    while (done < wan_tx_.size()) {
        const auto n = static_cast<uint16_t>(std::min<size_t>(wan_tx_.size() - done, kMaxBurst));
        cfg_.wan->tx_burst(cfg_.index, wan_tx_.data() + done, n);  // takes all n
        done += n;
    }
    wan_tx_.clear();
}

uint16_t Lcore::receive_wan(const Snapshot& snap, int64_t now) {
    rte_mbuf* pkts[kMaxBurst];
    uint16_t moved = 0;
    // Packets other lcores received for keypairs this one owns.
    if (cfg_.index < cfg_.handoff.size() && cfg_.handoff[cfg_.index] != nullptr) {
        const auto h = static_cast<uint16_t>(
            rte_ring_sc_dequeue_burst(cfg_.handoff[cfg_.index], reinterpret_cast<void**>(pkts),
                                      cfg_.burst, nullptr));
        if (h > 0) {
            counters_.handed_in += h;
            process_wan(snap, pkts, h, now, false);
            moved += h;
        }
    }
    const uint16_t n = cfg_.wan->rx_burst(cfg_.index, pkts, cfg_.burst);
    if (n == 0) return moved;
    counters_.wan_rx_packets += n;
    for (uint16_t i = 0; i < n; ++i) counters_.wan_rx_bytes += rte_pktmbuf_pkt_len(pkts[i]);
    process_wan(snap, pkts, n, now, true);
    return static_cast<uint16_t>(moved + n);
}

// Hands a packet to the lcore that owns its keypair's receive side; false
// when that lcore's ring is full (the caller drops it).
bool Lcore::hand_off(int32_t owner, rte_mbuf* m) {
    if (static_cast<size_t>(owner) >= cfg_.handoff.size()) return false;
    rte_ring* ring = cfg_.handoff[static_cast<size_t>(owner)];
    if (ring == nullptr || rte_ring_mp_enqueue(ring, m) != 0) return false;
    ++counters_.handed_out;
    handed_to_.set(static_cast<size_t>(owner));
    return true;
}

void Lcore::process_wan(const Snapshot& snap, rte_mbuf** pkts, uint16_t n, int64_t now,
                        bool may_hand_off) {

    // Stage 2-3: classify; transport messages go into one decrypt batch.
    rte_mbuf* batch[kMaxBurst];
    bool claimed[kMaxBurst];
    TransportPacket tps[kMaxBurst];
    Keypair* keypairs[kMaxBurst];
    uint32_t positions[kMaxBurst];
    uint16_t k = 0;
    auto& tc = counters_.transport;
    for (uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        if (m->nb_segs != 1 || rte_pktmbuf_data_len(m) < 1) {
            ++tc.dropped(DropReason::too_short);
            rte_pktmbuf_free(m);
            continue;
        }
        auto* p = rte_pktmbuf_mtod(m, uint8_t*);
        const uint32_t len = rte_pktmbuf_data_len(m);
        const uint8_t type = p[0];
        if (type == static_cast<uint8_t>(wire::MessageType::transport_data) ||
            type == static_cast<uint8_t>(wire::MessageType::stream)) {
            Keypair* kp = nullptr;
            uint32_t pos = UINT32_MAX;
            if (len >= 8) {
                if (const IndexRef* ref = snap.by_index.lookup(read_le32(p + 4))) {
                    kp = ref->keypair;
                    pos = ref->peer;
                }
            }
            // The receive side (replay window) of a keypair belongs to one
            // lcore: the first to receive on it claims it, and gives the claim
            // back below if the packet turns out not to authenticate, so a
            // forged packet cannot pin a keypair to the wrong lcore.
            claimed[k] = false;
            // Pipeline mode: the rx/tx lcore is the only receiver.
            if (kp != nullptr && cfg_.pipeline == nullptr) {
                int32_t owner = kp->rx_owner.load(std::memory_order_acquire);
                const auto me = static_cast<int32_t>(cfg_.index);
                if (owner < 0 && kp->rx_owner.compare_exchange_strong(owner, me)) {
                    owner = me;
                    claimed[k] = true;
                }
                if (owner != me) {
                    if (!may_hand_off || !hand_off(owner, m)) {
                        ++tc.dropped(DropReason::wrong_lcore);
                        rte_pktmbuf_free(m);
                    }
                    continue;
                }
            }
            batch[k] = m;
            tps[k] = TransportPacket{p, len, len};
            keypairs[k] = kp;
            positions[k] = pos;
            ++k;
        } else if (type >= 1 && type <= 3) {
            ++counters_.handshake_messages;
            Event ev;
            ev.kind = Event::Kind::handshake_message;
            ev.m = m;
            if (!post(ev)) rte_pktmbuf_free(m);
        } else {
            ++tc.dropped(DropReason::bad_type);
            rte_pktmbuf_free(m);
        }
    }
    if (k == 0) return;
    if (cfg_.pipeline != nullptr) {
        dispatch_decrypt(batch, tps, keypairs, k, now);
        return;
    }

    // Stage 4.
    PacketResult results[kMaxBurst];
    decrypt_burst(keypairs, tps, k, now, results, tc);
    for (uint16_t i = 0; i < k; ++i)
        if (claimed[i] && !results[i].authenticated)
            keypairs[i]->rx_owner.store(-1, std::memory_order_release);
    deliver(snap, batch, tps, keypairs, positions, results, k, now);
}

void Lcore::deliver(const Snapshot& snap, rte_mbuf** batch, const TransportPacket* tps,
                    Keypair* const* keypairs, const uint32_t* positions,
                    const PacketResult* results, uint16_t k, int64_t now) {
    auto& tc = counters_.transport;
    // Stages 5-7.
    rte_mbuf* lan_tx[kMaxBurst];
    uint16_t out = 0;
    uint32_t last_confirmed = 0;
    uint32_t last_roamed = UINT32_MAX;
    for (uint16_t i = 0; i < k; ++i) {
        rte_mbuf* m = batch[i];
        const PacketResult& r = results[i];
        if (r.authenticated && positions[i] < snap.peers.size()) {
            const PeerView& peer = snap.peers[positions[i]];
            PeerShared& shared = *peer.shared;
            PeerShared::raise(shared.last_rx_authenticated_ns, now);
            // Stream messages are data to WireGuard's timers too.
            if (r.verdict == Verdict::deliver || r.verdict == Verdict::stream)
                PeerShared::raise(shared.last_rx_data_ns, now);
            shared.rx_bytes.fetch_add(tps[i].len, std::memory_order_relaxed);
            shared.rx_packets.fetch_add(1, std::memory_order_relaxed);
            if (keypairs[i] == peer.next && keypairs[i]->local_index != last_confirmed) {
                keypairs[i]->received.store(true, std::memory_order_relaxed);
                last_confirmed = keypairs[i]->local_index;
                Event ev;
                ev.kind = Event::Kind::keypair_confirmed;
                ev.peer_id = peer.peer_id;
                ev.index = last_confirmed;
                post(ev);
            }
            const MbufEndpoint& from = *mbuf_endpoint(m);
            if (from.family != 0 && !(from == peer.endpoint) && positions[i] != last_roamed) {
                last_roamed = positions[i];
                Event ev;
                ev.kind = Event::Kind::roamed;
                ev.peer_id = peer.peer_id;
                ev.endpoint = from;
                post(ev);
            }
        }
        if (r.verdict == Verdict::stream && r.authenticated && positions[i] < snap.peers.size()) {
            // The stream engine lives on the control thread (DESIGN §7).
            rte_pktmbuf_adj(m, static_cast<uint16_t>(r.offset));
            rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_data_len(m) - r.length));
            Event ev;
            ev.kind = Event::Kind::stream_message;
            ev.peer_id = snap.peers[positions[i]].peer_id;
            ev.m = m;
            if (post(ev)) {
                ++counters_.stream_messages;
            } else {
                rte_pktmbuf_free(m);
            }
            continue;
        }
        if (r.verdict != Verdict::deliver) {
            rte_pktmbuf_free(m);  // dropped (counted by decrypt_burst) or a keepalive
            continue;
        }
        const uint8_t* inner = tps[i].data + r.offset;
        IpFamily family;
        const uint8_t* src;
        const bool ok = inner_address(inner, r.length, true, &family, &src);
        const auto owner = ok ? snap.routes.lookup(family, src) : std::nullopt;
        if (!owner || *owner != positions[i]) {
            ++tc.dropped(DropReason::source_not_allowed);
            rte_pktmbuf_free(m);
            continue;
        }
        rte_pktmbuf_adj(m, static_cast<uint16_t>(r.offset));
        rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_data_len(m) - r.length));
        lan_tx[out++] = m;
    }
    if (out > 0) cfg_.lan->tx_burst(cfg_.index, lan_tx, out);
}

uint16_t Lcore::receive_lan(const Snapshot& snap, int64_t now) {
    rte_mbuf* pkts[kMaxBurst];
    const uint16_t n = cfg_.lan->rx_burst(cfg_.index, pkts, cfg_.burst);
    if (n == 0) return 0;
    counters_.lan_rx_packets += n;
    uint32_t positions[kMaxBurst];
    for (uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        counters_.lan_rx_bytes += rte_pktmbuf_pkt_len(m);
        IpFamily family;
        const uint8_t* dst;
        positions[i] = UINT32_MAX;
        if (m->nb_segs != 1 || !inner_address(rte_pktmbuf_mtod(m, const uint8_t*),
                                              rte_pktmbuf_data_len(m), false, &family, &dst)) {
            ++counters_.transport.dropped(DropReason::not_ip);
            rte_pktmbuf_free(m);
            pkts[i] = nullptr;
            continue;
        }
        if (const auto pos = snap.routes.lookup(family, dst)) {
            positions[i] = *pos;
        } else {
            ++counters_.transport.dropped(DropReason::no_route);
            rte_pktmbuf_free(m);
            pkts[i] = nullptr;
        }
    }
    send_to_peers(snap, pkts, positions, n, now);
    return n;
}

uint16_t Lcore::take_commands(const Snapshot& snap, int64_t now) {
    Command cmds[kMaxBurst];
    const unsigned n = rte_ring_sc_dequeue_burst_elem(cfg_.commands, cmds, sizeof(Command),
                                                      cfg_.burst, nullptr);
    if (n == 0) return 0;
    counters_.commands += n;
    rte_mbuf* to_encrypt[kMaxBurst];
    uint32_t positions[kMaxBurst];
    uint16_t k = 0;
    rte_mbuf* streams[kMaxBurst];
    uint32_t stream_positions[kMaxBurst];
    uint16_t s = 0;
    for (unsigned i = 0; i < n; ++i) {
        if (cmds[i].kind == Command::Kind::send_raw) {
            wan_tx_.push_back(cmds[i].m);
            continue;
        }
        if (cmds[i].kind == Command::Kind::send_frame) {
            Port* port = cmds[i].port == Command::Target::lan ? cfg_.lan : cfg_.wan;
            port->tx_frames(cfg_.index, &cmds[i].m, 1);  // rare: ARP, ND, released packets
            continue;
        }
        const auto it = snap.position_of.find(cmds[i].peer_id);
        if (it == snap.position_of.end()) {  // the peer went away meanwhile
            ++counters_.transport.dropped(DropReason::no_route);
            rte_pktmbuf_free(cmds[i].m);
            continue;
        }
        if (cmds[i].kind == Command::Kind::encrypt_stream) {
            streams[s] = cmds[i].m;
            stream_positions[s] = it->second;
            ++s;
            continue;
        }
        to_encrypt[k] = cmds[i].m;
        positions[k] = it->second;
        ++k;
    }
    send_to_peers(snap, to_encrypt, positions, k, now);
    send_to_peers(snap, streams, stream_positions, s, now, wire::MessageType::stream);
    return static_cast<uint16_t>(n);
}

void Lcore::send_to_peers(const Snapshot& snap, rte_mbuf** pkts, const uint32_t* positions,
                          uint16_t n, int64_t now, wire::MessageType type) {
    // Group by peer, keeping each peer's packets in order: a burst rarely
    // holds more than a few peers, so repeated scans beat sorting.
    bool done[kMaxBurst] = {};
    rte_mbuf* group[kMaxBurst];
    for (uint16_t i = 0; i < n; ++i) {
        if (done[i] || pkts[i] == nullptr) continue;
        const uint32_t pos = positions[i];
        uint16_t g = 0;
        for (uint16_t j = i; j < n; ++j) {
            if (!done[j] && pkts[j] != nullptr && positions[j] == pos) {
                group[g++] = pkts[j];
                done[j] = true;
            }
        }
        encrypt_group(snap, pos, group, g, now, type);
    }
}

void Lcore::encrypt_group(const Snapshot& snap, uint32_t position, rte_mbuf** pkts, uint16_t n,
                          int64_t now, wire::MessageType type) {
    auto& tc = counters_.transport;
    const PeerView& peer = snap.peers[position];
    Keypair* kp = peer.next != nullptr && peer.next->received.load(std::memory_order_relaxed)
                      ? peer.next
                      : peer.current;
    if ((kp == nullptr || !may_encrypt(*kp, now)) && type == wire::MessageType::stream) {
        // The stream engine keeps what is unacknowledged and sends it again.
        tc.dropped(DropReason::no_key) += n;
        rte_pktmbuf_free_bulk(pkts, n);
        return;
    }
    if (kp == nullptr || !may_encrypt(*kp, now)) {
        // Stage 10: the control thread keeps them (bounded) and handshakes.
        for (uint16_t i = 0; i < n; ++i) {
            Event ev;
            ev.kind = Event::Kind::staged;
            ev.peer_id = peer.peer_id;
            ev.m = pkts[i];
            if (post(ev)) {
                ++counters_.staged;
            } else {
                rte_pktmbuf_free(pkts[i]);
            }
        }
        return;
    }
    if (peer.endpoint.family == 0) {
        tc.dropped(DropReason::no_endpoint) += n;
        rte_pktmbuf_free_bulk(pkts, n);
        return;
    }
    TransportPacket tps[kMaxBurst];
    uint16_t k = 0;
    for (uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        const uint32_t inner = rte_pktmbuf_data_len(m);
        auto* data = reinterpret_cast<uint8_t*>(
            rte_pktmbuf_prepend(m, static_cast<uint16_t>(wire::kTransportHeaderLen)));
        if (data == nullptr) {
            ++tc.dropped(DropReason::no_capacity);
            rte_pktmbuf_free(m);
            continue;
        }
        pkts[k] = m;
        tps[k] = TransportPacket{data, inner,
                                 static_cast<uint32_t>(wire::kTransportHeaderLen + inner +
                                                       rte_pktmbuf_tailroom(m))};
        ++k;
    }
    if (cfg_.pipeline != nullptr) {
        dispatch_encrypt(snap, peer, *kp, pkts, tps, k, now, type);
        return;
    }
    PacketResult results[kMaxBurst];
    encrypt_burst(*kp, tps, k, snap.mtu, now, results, tc, type);
    uint64_t bytes = 0;
    uint64_t sent = 0;
    bool data = false;
    for (uint16_t i = 0; i < k; ++i) {
        rte_mbuf* m = pkts[i];
        if (results[i].verdict != Verdict::send) {
            rte_pktmbuf_free(m);
            continue;
        }
        address_message(m, results[i].length, peer.endpoint);
        wan_tx_.push_back(m);
        bytes += results[i].length;
        ++sent;
        data |= tps[i].len > wire::kTransportOverhead;
    }
    peer.shared->note_sent(sent, bytes, data, now);
}

// A sealed (or, in pipeline mode, prepared) message of `len` bytes, to `to`.
void Lcore::address_message(rte_mbuf* m, uint32_t len, const MbufEndpoint& to) noexcept {
    m->data_len = static_cast<uint16_t>(len);  // within the room encrypt checked
    m->pkt_len = len;
    *mbuf_endpoint(m) = to;
}

// ---- Pipeline mode ----------------------------------------------------------------------------

void Lcore::dispatch_decrypt(rte_mbuf** batch, TransportPacket* tps, Keypair* const* keypairs,
                             uint16_t k, int64_t now) {
    auto& tc = counters_.transport;
    rte_mbuf* go[kMaxBurst];
    uint16_t n = 0;
    for (uint16_t i = 0; i < k; ++i) {
        // Stages 1-3 here, where the replay window is: replays cost no trip.
        const DropReason why = decrypt_check(keypairs[i], tps[i], now);
        if (why != DropReason::none) {
            ++tc.dropped(why);
            rte_pktmbuf_free(batch[i]);
            continue;
        }
        PipelineMeta& meta = pipeline_meta(batch[i]);
        meta = PipelineMeta{};
        meta.local_index = keypairs[i]->local_index;
        meta.direction = PipelineDirection::decrypt;
        go[n++] = batch[i];
    }
    to_crypto_lcores(PipelineDirection::decrypt, go, n);
}

void Lcore::to_crypto_lcores(PipelineDirection direction, rte_mbuf** pkts, uint16_t n) {
    const uint16_t went = cfg_.pipeline->dispatch(direction, pkts, n);
    counters_.pipelined += went;
    if (went < n) {
        counters_.transport.dropped(DropReason::pipeline_full) += n - went;
        rte_pktmbuf_free_bulk(pkts + went, n - went);
    }
}

void Lcore::dispatch_encrypt(const Snapshot& snap, const PeerView& peer, Keypair& keypair,
                             rte_mbuf** pkts, TransportPacket* tps, uint16_t k, int64_t now,
                             wire::MessageType type) {
    auto& tc = counters_.transport;
    PacketResult results[kMaxBurst];
    encrypt_prepare(keypair, tps, k, snap.mtu, now, results, tc, type);
    rte_mbuf* go[kMaxBurst];
    uint16_t n = 0;
    for (uint16_t i = 0; i < k; ++i) {
        rte_mbuf* m = pkts[i];
        if (results[i].verdict != Verdict::send) {
            rte_pktmbuf_free(m);
            continue;
        }
        address_message(m, results[i].length, peer.endpoint);
        PipelineMeta& meta = pipeline_meta(m);
        meta = PipelineMeta{};
        meta.local_index = keypair.local_index;
        meta.direction = PipelineDirection::encrypt;
        go[n++] = m;
    }
    to_crypto_lcores(PipelineDirection::encrypt, go, n);
}

uint16_t Lcore::collect_pipeline(const Snapshot& snap, int64_t now) {
    auto& tc = counters_.transport;
    rte_mbuf* decrypted[kMaxBurst];
    rte_mbuf* encrypted[kMaxBurst];
    uint16_t n_dec = 0;
    uint16_t n_enc = 0;
    uint64_t refused = 0;
    cfg_.pipeline->collect(cfg_.burst, decrypted, &n_dec, encrypted, &n_enc, kMaxBurst, &refused);
    tc.dropped(DropReason::reorder_failed) += refused;

    // Decrypted, in arrival order: the replay window, then stages 5-7. The
    // keypair is looked up again: the one that dispatched may be gone.
    TransportPacket tps[kMaxBurst];
    Keypair* keypairs[kMaxBurst];
    uint32_t positions[kMaxBurst];
    PacketResult results[kMaxBurst];
    uint16_t k = 0;
    for (uint16_t i = 0; i < n_dec; ++i) {
        rte_mbuf* m = decrypted[i];
        const PipelineMeta& meta = pipeline_meta(m);
        const IndexRef* ref = snap.by_index.lookup(meta.local_index);
        if (ref == nullptr) {
            ++tc.dropped(DropReason::unknown_index);
            rte_pktmbuf_free(m);
            continue;
        }
        tps[k] = TransportPacket{rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_data_len(m),
                                 rte_pktmbuf_data_len(m)};
        keypairs[k] = ref->keypair;
        positions[k] = ref->peer;
        results[k] = PacketResult{};
        results[k].verdict = meta.verdict;
        results[k].reason = meta.reason;
        results[k].offset = static_cast<uint32_t>(wire::kTransportHeaderLen);
        results[k].length = meta.length;
        decrypt_accept(*keypairs[k], tps[k], results[k], tc);
        decrypted[k++] = m;
    }
    if (k > 0) deliver(snap, decrypted, tps, keypairs, positions, results, k, now);

    // Encrypted, in the order their counters were given: stage 12, and the
    // peer's activity per run of one keypair.
    for (uint16_t i = 0; i < n_enc;) {
        const uint32_t index = pipeline_meta(encrypted[i]).local_index;
        uint64_t bytes = 0;
        uint64_t sent = 0;
        bool data = false;
        for (; i < n_enc && pipeline_meta(encrypted[i]).local_index == index; ++i) {
            rte_mbuf* m = encrypted[i];
            const TransportPacket tp{rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_data_len(m),
                                     rte_pktmbuf_data_len(m)};
            const bool sealed = pipeline_meta(m).sealed;
            encrypt_count(tp, sealed, tc);
            if (!sealed) {
                rte_pktmbuf_free(m);
                continue;
            }
            wan_tx_.push_back(m);
            bytes += tp.len;
            ++sent;
            data |= tp.len > wire::kTransportOverhead;
        }
        const IndexRef* ref = snap.by_index.lookup(index);
        if (ref != nullptr && ref->peer < snap.peers.size())
            snap.peers[ref->peer].shared->note_sent(sent, bytes, data, now);
    }
    return static_cast<uint16_t>(n_dec + n_enc);
}

bool Lcore::crypto_iteration() {
    Pipeline& p = *cfg_.pipeline;
    rte_mbuf* pkts[kMaxBurst];
    const auto n = static_cast<uint16_t>(rte_ring_sc_dequeue_burst(
        p.to_worker(cfg_.worker), reinterpret_cast<void**>(pkts), cfg_.burst, nullptr));
    if (n == 0) return false;
    // Loaded after the dequeue, so at least as new as the snapshot the rx/tx
    // lcore dispatched under (the ring orders the two).
    const Snapshot* snap = cfg_.snapshot->load(std::memory_order_acquire);
    pipeline_crypto(*snap, pkts, n);
    counters_.pipelined += n;
    // Every packet goes back, or the reorder buffer would wait for a hole.
    // The rx/tx lcore drains the return ring every iteration, so this waits
    // only while it is busy.
    uint16_t back = 0;
    while (back < n) {
        back = static_cast<uint16_t>(
            back + rte_ring_sp_enqueue_burst(p.from_worker(cfg_.worker),
                                             reinterpret_cast<void* const*>(pkts + back), n - back,
                                             nullptr));
        if (back < n) {
            if (cfg_.stop->load(std::memory_order_acquire)) {
                rte_pktmbuf_free_bulk(pkts + back, n - back);
                break;
            }
            rte_pause();
        }
    }
    return true;
}

}  // namespace sluice
