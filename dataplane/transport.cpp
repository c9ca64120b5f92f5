// WireGuard transport data messages over bursts. The stages, and which run
// per packet and which per burst, are listed at the top of transport.hpp.

#include "dataplane/transport.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>

#include "dataplane/aead.hpp"

namespace sluice {
namespace {

static_assert(kTransportChunk <= AeadEngine::kMaxBurst,
              "one transport chunk must go to the AEAD engine as one burst");
static_assert(wire::kAeadTagLen == kAeadTagSize);

// How far ahead of the packet being worked on to prefetch, as DPDK's examples do.
constexpr size_t kPrefetchAhead = 3;

// Type 4 with three zero reserved bytes, read as one little-endian word: the
// kernel module compares the same way, so non-zero reserved bytes are refused.
constexpr uint32_t kTransportTypeWord = static_cast<uint32_t>(wire::MessageType::transport_data);

void drop(PacketResult& result, DropReason reason, TransportCounters& counters) noexcept {
    result.verdict = Verdict::drop;
    result.reason = reason;
    ++counters.dropped(reason);
}

void prefetch(const TransportPacket* packets, size_t i, size_t n) noexcept {
    if (i + kPrefetchAhead < n) __builtin_prefetch(packets[i + kPrefetchAhead].data);
}

uint16_t load_be16(const uint8_t* p) noexcept {
    return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

void encrypt_chunk(AeadEngine& engine, Keypair& keypair, TransportPacket* packets, size_t n,
                   uint32_t mtu, int64_t now_ns, PacketResult* results,
                   TransportCounters& counters) noexcept {
    // Indices (into this chunk) of the packets still going, in order.
    uint8_t live[kTransportChunk];
    uint32_t padded[kTransportChunk];
    size_t n_live = 0;

    // 1. Padding and room for it.
    for (size_t i = 0; i < n; ++i) {
        prefetch(packets, i, n);
        results[i] = PacketResult{};
        const TransportPacket& packet = packets[i];
        const uint32_t padded_len = padded_length(packet.len, mtu);
        const uint64_t needed =
            uint64_t{wire::kTransportHeaderLen} + padded_len + wire::kAeadTagLen;
        if (packet.data == nullptr || packet.len > packet.capacity || needed > packet.capacity) {
            drop(results[i], DropReason::no_capacity, counters);
            continue;
        }
        padded[i] = padded_len;
        live[n_live++] = static_cast<uint8_t>(i);
    }
    if (n_live == 0) return;

    // 2. One key, one age: the whole burst goes or none of it.
    if (key_expired(keypair, now_ns)) {
        for (size_t k = 0; k < n_live; ++k) {
            drop(results[live[k]], DropReason::key_expired, counters);
        }
        return;
    }

    // 3. Reserve the burst's counters at once, so lcores sharing this keypair
    //    never hand out one nonce twice. Relaxed order is enough: the RMW alone
    //    makes the ranges disjoint. Looking first keeps an exhausted keypair
    //    from being pushed on toward 2^64 and wrapping (see kTransportChunk).
    size_t n_sendable = 0;
    uint64_t first_counter = 0;
    if (keypair.send_counter.load(std::memory_order_relaxed) < wire::kRejectAfterMessages) {
        first_counter = keypair.send_counter.fetch_add(n_live, std::memory_order_relaxed);
        if (first_counter < wire::kRejectAfterMessages) {
            n_sendable = static_cast<size_t>(
                std::min<uint64_t>(n_live, wire::kRejectAfterMessages - first_counter));
        }
    }
    for (size_t k = n_sendable; k < n_live; ++k) {
        drop(results[live[k]], DropReason::counter_exhausted, counters);
    }

    // 4. Header and zero padding, in place around the plaintext.
    AeadOp ops[kTransportChunk];
    for (size_t k = 0; k < n_sendable; ++k) {
        TransportPacket& packet = packets[live[k]];
        const uint64_t counter = first_counter + k;
        const wire::TransportHeader header{
            .type = static_cast<uint8_t>(wire::MessageType::transport_data),
            .reserved = {0, 0, 0},
            .receiver_index = keypair.remote_index,
            .counter = counter,
        };
        std::memcpy(packet.data, &header, sizeof header);
        uint8_t* plaintext = packet.data + wire::kTransportHeaderLen;
        const uint32_t padded_len = padded[live[k]];
        std::memset(plaintext + packet.len, 0, padded_len - packet.len);
        ops[k] = AeadOp{
            .key = keypair.send_key.data(),
            .counter = counter,
            .data = plaintext,
            .len = padded_len,
            .tag = plaintext + padded_len,
        };
    }

    // 5. Seal the burst.
    engine.seal_burst(ops, n_sendable);

    // 6. Results.
    for (size_t k = 0; k < n_sendable; ++k) {
        const size_t i = live[k];
        if (!ops[k].ok) [[unlikely]] {
            drop(results[i], DropReason::crypto_error, counters);
            continue;
        }
        const bool keepalive = packets[i].len == 0;
        const uint32_t message_len =
            static_cast<uint32_t>(wire::kTransportHeaderLen + ops[k].len + wire::kAeadTagLen);
        packets[i].len = message_len;
        results[i].verdict = Verdict::send;
        results[i].length = message_len;
        ++counters.tx_packets;
        counters.tx_bytes += message_len;
        counters.tx_keepalives += keepalive;
    }
}

void decrypt_chunk(AeadEngine& engine, Keypair* const* keypairs, TransportPacket* packets, size_t n,
                   int64_t now_ns, PacketResult* results, TransportCounters& counters) noexcept {
    uint8_t live[kTransportChunk];
    AeadOp ops[kTransportChunk];
    size_t n_live = 0;

    // 1-3. Cheap checks first: nothing below may cost a decryption.
    for (size_t i = 0; i < n; ++i) {
        prefetch(packets, i, n);
        results[i] = PacketResult{};
        const TransportPacket& packet = packets[i];
        if (packet.data == nullptr || packet.len < wire::kTransportMinLen) {
            drop(results[i], DropReason::too_short, counters);
            continue;
        }
        wire::TransportHeader header;
        std::memcpy(&header, packet.data, sizeof header);
        uint32_t type_word;
        std::memcpy(&type_word, packet.data, sizeof type_word);
        if (type_word != kTransportTypeWord) {
            drop(results[i], DropReason::bad_type, counters);
            continue;
        }
        // The index check also catches a caller that passed the wrong keypair.
        Keypair* keypair = keypairs[i];
        if (keypair == nullptr || keypair->local_index != header.receiver_index) {
            drop(results[i], DropReason::unknown_index, counters);
            continue;
        }
        if (key_expired(*keypair, now_ns)) {
            drop(results[i], DropReason::key_expired, counters);
            continue;
        }
        if (header.counter >= wire::kRejectAfterMessages) {
            drop(results[i], DropReason::counter_exhausted, counters);
            continue;
        }
        if (!keypair->replay.may_accept(header.counter)) {
            drop(results[i], DropReason::replay, counters);
            continue;
        }
        uint8_t* ciphertext = packet.data + wire::kTransportHeaderLen;
        const uint32_t ciphertext_len = packet.len - static_cast<uint32_t>(wire::kTransportMinLen);
        ops[n_live] = AeadOp{
            .key = keypair->receive_key.data(),
            .counter = header.counter,
            .data = ciphertext,
            .len = ciphertext_len,
            .tag = ciphertext + ciphertext_len,
        };
        live[n_live++] = static_cast<uint8_t>(i);
    }

    // 4. Open the burst; keys may differ per packet.
    engine.open_burst(ops, n_live);

    for (size_t k = 0; k < n_live; ++k) {
        const size_t i = live[k];
        PacketResult& result = results[i];
        if (!ops[k].ok) {
            drop(result, DropReason::auth_failed, counters);
            continue;
        }
        // 5. Only now may the counter enter the window: a forged packet must
        //    not be able to slide it. In packet order, so of two copies of one
        //    message in a burst the first wins.
        if (!keypairs[i]->replay.check_and_update(ops[k].counter)) {
            drop(result, DropReason::replay, counters);
            continue;
        }
        result.authenticated = true;

        // 6. The inner packet.
        const uint32_t message_len = packets[i].len;
        if (ops[k].len == 0) {
            result.verdict = Verdict::keepalive;
            ++counters.rx_packets;
            counters.rx_bytes += message_len;
            ++counters.rx_keepalives;
            continue;
        }
        const uint32_t inner_len = inner_packet_length(ops[k].data, ops[k].len);
        if (inner_len == 0) {
            drop(result, DropReason::invalid_inner_packet, counters);
            continue;
        }
        result.verdict = Verdict::deliver;
        result.offset = static_cast<uint32_t>(wire::kTransportHeaderLen);
        result.length = inner_len;
        ++counters.rx_packets;
        counters.rx_bytes += message_len;
    }
}

}  // namespace

uint32_t inner_packet_length(const uint8_t* packet, uint32_t len) noexcept {
    if (len == 0) return 0;
    switch (packet[0] >> 4) {
        case 4: {
            constexpr uint32_t kMinHeader = 20;
            if (len < kMinHeader) return 0;
            const uint32_t header_len = (packet[0] & 0x0fu) * 4u;
            const uint32_t total_len = load_be16(packet + 2);
            // A header longer than the packet it heads is as dishonest as a
            // length that runs past what we decrypted.
            if (header_len < kMinHeader || total_len < header_len || total_len > len) return 0;
            return total_len;
        }
        case 6: {
            constexpr uint32_t kFixedHeader = 40;
            if (len < kFixedHeader) return 0;
            const uint32_t total_len = kFixedHeader + load_be16(packet + 4);
            if (total_len > len) return 0;
            return total_len;
        }
        default:
            return 0;
    }
}

void encrypt_burst(Keypair& keypair, TransportPacket* packets, size_t n, uint32_t mtu,
                   int64_t now_ns, PacketResult* results, TransportCounters& counters) noexcept {
    AeadEngine& engine = AeadEngine::this_thread();
    for (size_t start = 0; start < n; start += kTransportChunk) {
        const size_t count = std::min(kTransportChunk, n - start);
        encrypt_chunk(engine, keypair, packets + start, count, mtu, now_ns, results + start,
                      counters);
    }
}

void decrypt_burst(Keypair* const* keypairs, TransportPacket* packets, size_t n, int64_t now_ns,
                   PacketResult* results, TransportCounters& counters) noexcept {
    AeadEngine& engine = AeadEngine::this_thread();
    for (size_t start = 0; start < n; start += kTransportChunk) {
        const size_t count = std::min(kTransportChunk, n - start);
        decrypt_chunk(engine, keypairs + start, packets + start, count, now_ns, results + start,
                      counters);
    }
}

}  // namespace sluice
