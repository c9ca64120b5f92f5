// WireGuard transport data messages (type 4), a burst at a time.
//
// Encrypt stages, in order (a burst is split into chunks of kTransportChunk):
//   1. per packet  padded length (WireGuard's rule), room for it     drop: no_capacity
//   2. per burst   key age against REJECT_AFTER_TIME                 drop: key_expired
//   3. per burst   reserve the counters of the packets still going
//                  with ONE fetch_add on keypair.send_counter; those
//                  >= REJECT_AFTER_MESSAGES are refused              drop: counter_exhausted
//   4. per packet  write the header, zero the padding
//   5. per burst   seal in place (ipsec-mb multi-buffer), tag after the padding
//   6. per packet  results and counters
//
// Stream messages (wire::MessageType::stream) take the same stages with
// `type` = stream: no padding, the header as associated data, and on receipt
// verdict `stream` instead of stage 6's inner-packet checks.
//
// Decrypt stages, in order:
//   1. per packet  length, type, keypair (looked up by the caller)   drop: too_short,
//                                                                          bad_type, unknown_index
//   2. per packet  key age                                           drop: key_expired
//   3. per packet  counter limit and replay pre-check, before any
//                  crypto so replays cost no decryption              drop: counter_exhausted,
//                                                                          replay
//   4. per burst   open in place (ipsec-mb multi-buffer; keys may
//                  differ per packet)                                drop: auth_failed
//   5. per packet  in order, update the replay window, only for
//                  authenticated packets (of two copies in one
//                  burst, the second loses)                          drop: replay
//   6. per packet  inner packet: empty = keepalive; IPv4/IPv6 header
//                  and length checked, padding trimmed               drop: invalid_inner_packet
//
// Pipeline mode (dataplane/pipeline.hpp) runs the same stages split between
// lcores, through the functions at the end of this file:
//   decrypt: decrypt_check (stages 1-3, the lcore owning the replay window)
//            → decrypt_open_burst (4 and 6's inner checks, any lcore)
//            → decrypt_accept (5 and the counters, the owner, in arrival order)
//   encrypt: encrypt_prepare (1-4, in order: counters follow packet order)
//            → encrypt_seal_burst (5, any lcore) → encrypt_count (6)
// decrypt_burst and encrypt_burst are those pieces run back to back.
//
// Packets are plain buffers so these stages run the same under DPDK mbufs,
// AF_XDP frames or a kernel socket's iovecs. Per-lcore state only: Counters
// are not atomic, and the receive side must run on the lcore that owns the
// keypair's replay window.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "dataplane/drop_reasons.hpp"
#include "dataplane/keypair.hpp"
#include "dataplane/wire.hpp"

namespace sluice {

// A transport message in a buffer. `data` is where the message starts (the
// header); the inner packet lives at data + wire::kTransportHeaderLen.
//   encrypt: in:  len = inner plaintext length (after the header space)
//            out: len = whole message length (header + padded ciphertext + tag)
//   decrypt: in:  len = whole message length; not changed (see PacketResult)
struct TransportPacket {
    uint8_t* data = nullptr;
    uint32_t len = 0;
    uint32_t capacity = 0;  // bytes writable from `data`
};

enum class Verdict : uint8_t {
    send,       // encrypt: the message is ready (a keepalive too)
    deliver,    // decrypt: inner packet at data + offset, `length` bytes
    keepalive,  // decrypt: authenticated, empty; nothing to deliver
    stream,     // decrypt: a stream message's plaintext (a stream packet) at
                // data + offset, `length` bytes, for the control thread
    drop,       // see `reason`
};

struct PacketResult {
    Verdict verdict = Verdict::drop;
    DropReason reason = DropReason::none;  // set only when verdict == drop
    // decrypt: the message authenticated and its counter was fresh. True also
    // for keepalives and invalid_inner_packet drops: the peer sent it, so
    // timers and roaming should hear of it.
    bool authenticated = false;
    uint32_t offset = 0;  // decrypt: where the inner packet starts in `data`
    uint32_t length = 0;  // encrypt: message length; decrypt: inner packet length
};

// Per-lcore transport counters; the reader sums them over lcores.
// Bytes are transport-message bytes (header, ciphertext, tag), as wg(8)'s
// "transfer" counts them; keepalives are included in packets and bytes and
// counted again on their own.
struct TransportCounters {
    uint64_t tx_packets = 0;
    uint64_t tx_bytes = 0;
    uint64_t tx_keepalives = 0;
    uint64_t rx_packets = 0;  // authenticated and accepted: delivered or keepalive
    uint64_t rx_bytes = 0;
    uint64_t rx_keepalives = 0;
    uint64_t tx_stream = 0;  // stream messages (included in tx_packets/tx_bytes)
    uint64_t rx_stream = 0;  // (included in rx_packets/rx_bytes)
    std::array<uint64_t, kDropReasonCount> drops{};

    uint64_t& dropped(DropReason reason) noexcept { return drops[index_of(reason)]; }
    [[nodiscard]] uint64_t dropped(DropReason reason) const noexcept {
        return drops[index_of(reason)];
    }
    [[nodiscard]] uint64_t total_drops() const noexcept {
        uint64_t sum = 0;
        for (uint64_t d : drops) sum += d;
        return sum;
    }
};

// Bursts longer than this are processed in chunks, each with its own counter
// reservation. It also bounds how far send_counter can overshoot
// REJECT_AFTER_MESSAGES: each concurrent sender adds at most one chunk after
// the limit, and the 2^13 counters between the limit and 2^64 must never be
// crossed (a wrap would reuse nonces). 2^13 / 64 = 128 concurrent senders.
inline constexpr size_t kTransportChunk = 64;
static_assert(kTransportChunk * 128 <= (uint64_t{1} << 13));

// WireGuard's padding: to a multiple of 16, but never past the MTU; a packet
// already longer than the MTU is not padded. mtu == 0 means "no MTU known":
// pad to 16 only.
constexpr uint32_t padded_length(uint32_t len, uint32_t mtu) noexcept {
    constexpr uint32_t kMask = wire::kPaddingMultiple - 1;
    if (len > UINT32_MAX - kMask) return len;  // cannot be padded, and no buffer holds it anyway
    const uint32_t aligned = (len + kMask) & ~kMask;
    if (mtu == 0) return aligned;
    if (len > mtu) return len;
    return aligned < mtu ? aligned : mtu;
}

// The length an inner IP packet claims for itself, checked against the `len`
// bytes available: IPv4 (version 4, IHL >= 5, IHL*4 <= total length <= len)
// or IPv6 (40 + payload length <= len). 0 when it is neither or lies.
// Transport decryption uses it to trim WireGuard's padding.
uint32_t inner_packet_length(const uint8_t* packet, uint32_t len) noexcept;

// Older than REJECT_AFTER_TIME: the keypair may neither encrypt nor decrypt.
inline constexpr int64_t kRejectAfterTimeNs =
    std::chrono::duration_cast<std::chrono::nanoseconds>(wire::kRejectAfterTime).count();
inline bool key_expired(const Keypair& keypair, int64_t now_ns) noexcept {
    return now_ns - keypair.birth_ns >= kRejectAfterTimeNs;
}
// Whether encrypt_burst would send anything on `keypair` now: young enough and
// below the message limit. Past either only a new handshake helps.
inline bool may_encrypt(const Keypair& keypair, int64_t now_ns) noexcept {
    return !key_expired(keypair, now_ns) &&
           keypair.send_counter.load(std::memory_order_relaxed) < wire::kRejectAfterMessages;
}

// Encrypts packets[0..n) with `keypair`'s send half. now_ns is the same clock
// keypair.birth_ns was taken from. results[i] and packets[i].len say what
// became of each packet.
// `type`: transport_data, or stream for stream messages.
void encrypt_burst(Keypair& keypair, TransportPacket* packets, size_t n, uint32_t mtu,
                   int64_t now_ns, PacketResult* results, TransportCounters& counters,
                   wire::MessageType type = wire::MessageType::transport_data) noexcept;

// Decrypts packets[0..n). keypairs[i] is the keypair the caller found for the
// receiver index of packets[i], or null when there is none. The replay windows
// of these keypairs must be owned by the calling lcore.
void decrypt_burst(Keypair* const* keypairs, TransportPacket* packets, size_t n, int64_t now_ns,
                   PacketResult* results, TransportCounters& counters) noexcept;

// ---- Pipeline mode: the stages above, split between lcores -------------------------------

// Decrypt stages 1-3 for one packet: DropReason::none when it may be opened,
// else why not (the caller counts it). Reads the replay window: the owner's.
[[nodiscard]] DropReason decrypt_check(const Keypair* keypair, const TransportPacket& packet,
                                       int64_t now_ns) noexcept;
// Stage 4 and the inner-packet checks of stage 6 for packets that passed
// decrypt_check, on any lcore: reads keys only, counts nothing. results[i]:
// deliver (offset, length), keepalive, or verdict drop with reason
// auth_failed, invalid_inner_packet, or unknown_index (keypairs[i] null).
// `authenticated` stays false: the replay window has not seen them yet.
void decrypt_open_burst(Keypair* const* keypairs, TransportPacket* packets, size_t n,
                        PacketResult* results) noexcept;
// Stage 5 and the counters for one opened packet, on the owner lcore, in the
// order the packets arrived: enters its counter into the window (a replay
// loses here) and finishes `result` as decrypt_burst would have.
void decrypt_accept(Keypair& keypair, const TransportPacket& packet, PacketResult& result,
                    TransportCounters& counters) noexcept;

// Encrypt stages 1-4: drops counted, counters reserved in packet order,
// header and padding written. Packets that go get verdict send, and their
// `len` and result length become the message length they will have once
// sealed. Returns how many go.
size_t encrypt_prepare(Keypair& keypair, TransportPacket* packets, size_t n, uint32_t mtu,
                       int64_t now_ns, PacketResult* results, TransportCounters& counters,
                       wire::MessageType type = wire::MessageType::transport_data) noexcept;
// Stage 5 on any lcore, for packets encrypt_prepare let go on `keypair`
// (len = message length). ok[i]: the engine sealed it.
void encrypt_seal_burst(const Keypair& keypair, TransportPacket* packets, size_t n,
                        bool* ok) noexcept;
// Stage 6: the counters of one packet back from encrypt_seal_burst.
void encrypt_count(const TransportPacket& packet, bool sealed, TransportCounters& counters) noexcept;

}  // namespace sluice
