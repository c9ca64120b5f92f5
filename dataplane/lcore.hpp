// One packet lcore: the run-to-completion loop of DESIGN §2 over one queue of
// the WAN port and one queue of the LAN port.
//
// Stages, per loop iteration (a burst at a time, never blocking):
//   0. quiescent state (RCU), then load the published Snapshot once
//   1. packets other lcores handed over (below), then WAN rx_burst
//   2. classify by message type: 1-3 → Event to control; 4 and stream
//      messages → transport batch; anything else dropped (bad_type, too_short)
//   3. receiver index → keypair (Snapshot::by_index); claim the keypair's
//      receive side for this lcore, or hand the packet to the lcore that
//      owns it over that lcore's handoff ring (wrong_lcore if it is full)
//   4. decrypt_burst: length, key age, replay pre-check, open, replay update
//   5. per authenticated packet: activity stamps and bytes (PeerShared), key
//      confirmation of a `next` keypair and roaming → Event to control
//   6. inner source ∈ the sending peer's allowed IPs, else source_not_allowed;
//      a stream message's plaintext → Event to control (the stream engine)
//   7. LAN tx_burst
//   8. LAN rx_burst
//   9. route: inner destination → peer (allowed-IPs longest prefix match),
//      else no_route; packets grouped by peer
//  10. no usable current keypair → staged: Event to control, which starts a
//      handshake and sends them back once it completes
//  11. encrypt_burst per peer group (counters reserved per burst), endpoint
//      from the snapshot into each mbuf
//  12. WAN tx_burst
//  13. Commands from control: send_raw → WAN tx; encrypt → as 9-12;
//      encrypt_stream → as 11-12 as stream messages (no keypair: no_key);
//      send_frame → that port's tx_frames (L2 mode: ARP, ND, released frames)
//  13b. flush: ports that gather bursts (EthdevPort) send what waited long
//      enough, everything when the iteration moved nothing
//  14. nothing for a while: go offline (RCU) and sleep on epoll over the
//      ports' fds and our eventfd; never when a port can only be polled
//      (a DPDK ethdev has no fd to wake us: the lcore busy-polls)
//
// Pipeline mode (pipeline.hpp): lcore 0 takes the rx/tx role and runs the
// stages above except the sealing and opening, which it dispatches (stage 4:
// decrypt_check only; stage 11: encrypt_prepare only), and a stage 0b that
// collects what the crypto lcores finished, in order, and runs stages 5-7
// (decrypt_accept first) or stage 12 on it. Crypto lcores run only
// pipeline_crypto over their ring. Both busy-poll: pipeline mode is for
// dedicated cores.
//
// Ownership: everything in Lcore belongs to its own thread; counters() may be
// read by other threads (plain 64-bit loads, a recent value, as DPDK's own
// stats are read).
#pragma once

#include <atomic>
#include <bitset>
#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/lcore_messages.hpp"
#include "dataplane/rcu.hpp"
#include "dataplane/snapshot.hpp"
#include "dataplane/transport.hpp"
#include "drivers/port.hpp"

struct rte_ring;

namespace sluice {

class Pipeline;
enum class PipelineDirection : uint8_t;

struct LcoreCounters {
    TransportCounters transport;  // drops by reason, transport packets and bytes
    uint64_t wan_rx_packets = 0;  // everything the WAN queue delivered
    uint64_t wan_rx_bytes = 0;
    uint64_t lan_rx_packets = 0;
    uint64_t lan_rx_bytes = 0;
    uint64_t handshake_messages = 0;  // passed up to the control thread
    uint64_t staged = 0;              // passed up for lack of a keypair
    uint64_t stream_messages = 0;     // decrypted stream messages passed up
    uint64_t commands = 0;            // taken from the control thread
    uint64_t handed_out = 0;          // WAN packets passed to the lcore owning their keypair
    uint64_t handed_in = 0;           // and taken from other lcores
    uint64_t pipelined = 0;           // rx/tx: given to crypto lcores; crypto: sealed or opened
    uint64_t sleeps = 0;              // times the loop slept on epoll
    uint64_t busy_cycles = 0;         // TSC cycles of iterations that moved packets
    uint64_t total_cycles = 0;        // TSC cycles since the loop started
};

enum class LcoreRole : uint8_t { run_to_completion, rx_tx, crypto };

struct LcoreConfig {
    LcoreRole role = LcoreRole::run_to_completion;
    Pipeline* pipeline = nullptr;  // rx_tx and crypto roles
    unsigned worker = 0;           // crypto: its ring pair in the pipeline
    unsigned index = 0;      // 0..n-1: RCU thread id, queue number, owner id of keypairs
    unsigned lcore_id = 0;   // DPDK's lcore id, for display
    Port* wan = nullptr;     // queue `index` is ours
    Port* lan = nullptr;     // queue `index` is ours
    rte_ring* events = nullptr;    // to control: single producer (us)
    rte_ring* commands = nullptr;  // from control: single consumer (us)
    int control_wake_fd = -1;      // eventfd of the control thread
    const std::atomic<const Snapshot*>* snapshot = nullptr;  // control: publishes
    Rcu* rcu = nullptr;
    const std::atomic<bool>* stop = nullptr;
    // Every lcore's handoff ring (multi-producer, single consumer: its
    // owner), indexed by lcore index, and their eventfds to wake them. With
    // one lcore the ring may be null.
    std::vector<rte_ring*> handoff;
    const std::vector<int>* wake_fds = nullptr;
    uint16_t burst = 32;
    // Empty polls for this long before sleeping on epoll. 0: sleep at once.
    // Ignored (always busy) when either port has no wait_fd.
    uint32_t busy_poll_us = 50;
};

class Lcore {
public:
    // Creates the lcore's eventfd and epoll set; `error` set and false from
    // init() when the kernel refuses.
    explicit Lcore(const LcoreConfig& config) : cfg_(config) {}
    ~Lcore();
    Lcore(const Lcore&) = delete;
    Lcore& operator=(const Lcore&) = delete;

    bool init(std::string* error);
    // The loop; returns when *stop is set (and the lcore has been woken).
    void run();
    // Makes the lcore look at its rings now (control, after enqueueing).
    void wake() const noexcept;

    [[nodiscard]] const LcoreCounters& counters() const noexcept { return counters_; }
    [[nodiscard]] const LcoreConfig& config() const noexcept { return cfg_; }
    [[nodiscard]] int wake_fd() const noexcept { return wake_fd_; }

private:
    static constexpr uint16_t kMaxBurst = 512;

    bool iteration(const Snapshot& snap, int64_t now);
    bool crypto_iteration();
    uint16_t receive_wan(const Snapshot& snap, int64_t now);
    // Stages 2-7 for WAN packets; handed-in packets are never handed on.
    void process_wan(const Snapshot& snap, rte_mbuf** pkts, uint16_t n, int64_t now,
                     bool may_hand_off);
    bool hand_off(int32_t owner, rte_mbuf* m);
    // Stages 5-7 for a decrypted batch (results final, replay window updated).
    void deliver(const Snapshot& snap, rte_mbuf** batch, const TransportPacket* tps,
                 Keypair* const* keypairs, const uint32_t* positions, const PacketResult* results,
                 uint16_t k, int64_t now);
    // Pipeline mode, rx/tx role: stage 4's check and dispatch, stage 11's
    // preparation and dispatch, and stage 0b.
    void dispatch_decrypt(rte_mbuf** batch, TransportPacket* tps, Keypair* const* keypairs,
                          uint16_t k, int64_t now);
    void dispatch_encrypt(const Snapshot& snap, const PeerView& peer, Keypair& keypair,
                          rte_mbuf** pkts, TransportPacket* tps, uint16_t k, int64_t now,
                          wire::MessageType type);
    uint16_t collect_pipeline(const Snapshot& snap, int64_t now);
    // Gives pkts to the crypto lcores; what finds no room is dropped as
    // pipeline_full.
    void to_crypto_lcores(PipelineDirection direction, rte_mbuf** pkts, uint16_t n);
    static void address_message(rte_mbuf* m, uint32_t len, const MbufEndpoint& to) noexcept;
    uint16_t receive_lan(const Snapshot& snap, int64_t now);
    uint16_t take_commands(const Snapshot& snap, int64_t now);
    // Stages 9-12 for pkts whose peers are known: position in snap.peers, or
    // UINT32_MAX for a peer not in the snapshot (dropped).
    void send_to_peers(const Snapshot& snap, rte_mbuf** pkts, const uint32_t* positions,
                       uint16_t n, int64_t now,
                       wire::MessageType type = wire::MessageType::transport_data);
    void encrypt_group(const Snapshot& snap, uint32_t position, rte_mbuf** pkts, uint16_t n,
                       int64_t now, wire::MessageType type);
    void flush_wan();
    bool post(const Event& event);
    void sleep();

    LcoreConfig cfg_;
    int wake_fd_ = -1;
    int epoll_fd_ = -1;
    bool poll_only_ = false;  // a port without a wait_fd: never sleep
    LcoreCounters counters_;
    bool posted_ = false;  // events went up this iteration: wake control once
    std::bitset<128> handed_to_;  // bit i: packets went to lcore i this iteration
    std::vector<rte_mbuf*> wan_tx_;
};

}  // namespace sluice
