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
constexpr uint32_t kStreamTypeWord = static_cast<uint32_t>(wire::MessageType::stream);

bool is_stream(const uint8_t* message) noexcept {
    return message[0] == static_cast<uint8_t>(wire::MessageType::stream);
}

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

// The seal operation of a message at `message` (header first, written)
// whose padded plaintext is padded_len bytes, the tag to follow it. A stream
// message authenticates its header.
AeadOp seal_op(const Keypair& keypair, uint8_t* message, uint64_t counter,
               uint32_t padded_len) noexcept {
    uint8_t* plaintext = message + wire::kTransportHeaderLen;
    const bool stream = is_stream(message);
    return AeadOp{
        .key = keypair.send_key.data(),
        .counter = counter,
        .data = plaintext,
        .len = padded_len,
        .tag = plaintext + padded_len,
        .aad = stream ? message : nullptr,
        .aad_len = stream ? static_cast<uint32_t>(wire::kStreamAadLen) : 0,
    };
}

// Encrypt stages 1-4 for one chunk: which packets go, their counters, their
// headers and padding. Fills ops[0..returned) for the packets to seal, in
// order, with live[] naming each one's index in the chunk. The packets'
// `len` stays the plaintext length.
size_t encrypt_prepare_chunk(Keypair& keypair, TransportPacket* packets, size_t n, uint32_t mtu,
                             int64_t now_ns, PacketResult* results, TransportCounters& counters,
                             AeadOp* ops, uint8_t* live, wire::MessageType type) noexcept {
    const bool stream = type == wire::MessageType::stream;
    uint32_t padded[kTransportChunk];
    size_t n_live = 0;

    // 1. Padding and room for it.
    for (size_t i = 0; i < n; ++i) {
        prefetch(packets, i, n);
        results[i] = PacketResult{};
        const TransportPacket& packet = packets[i];
        const uint32_t padded_len = stream ? packet.len : padded_length(packet.len, mtu);
        const uint64_t needed =
            uint64_t{wire::kTransportHeaderLen} + padded_len + wire::kAeadTagLen;
        if (packet.data == nullptr || packet.len > packet.capacity || needed > packet.capacity) {
            drop(results[i], DropReason::no_capacity, counters);
            continue;
        }
        padded[i] = padded_len;
        live[n_live++] = static_cast<uint8_t>(i);
    }
    if (n_live == 0) return 0;

    // 2. One key, one age: the whole burst goes or none of it.
    if (key_expired(keypair, now_ns)) {
        for (size_t k = 0; k < n_live; ++k) {
            drop(results[live[k]], DropReason::key_expired, counters);
        }
        return 0;
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
    for (size_t k = 0; k < n_sendable; ++k) {
        TransportPacket& packet = packets[live[k]];
        const uint64_t counter = first_counter + k;
        const wire::TransportHeader header{
            .type = static_cast<uint8_t>(type),
            .reserved = {0, 0, 0},
            .receiver_index = keypair.remote_index,
            .counter = counter,
        };
        std::memcpy(packet.data, &header, sizeof header);
        const uint32_t padded_len = padded[live[k]];
        std::memset(packet.data + wire::kTransportHeaderLen + packet.len, 0,
                    padded_len - packet.len);
        ops[k] = seal_op(keypair, packet.data, counter, padded_len);
    }
    return n_sendable;
}

// Encrypt stage 6 for one sealed packet.
void encrypt_result(TransportPacket& packet, const AeadOp& op, PacketResult& result,
                    TransportCounters& counters) noexcept {
    if (!op.ok) [[unlikely]] {
        drop(result, DropReason::crypto_error, counters);
        return;
    }
    const bool stream = op.aad_len != 0;
    const bool keepalive = packet.len == 0 && !stream;
    const auto message_len =
        static_cast<uint32_t>(wire::kTransportHeaderLen + op.len + wire::kAeadTagLen);
    packet.len = message_len;
    result.verdict = Verdict::send;
    result.length = message_len;
    ++counters.tx_packets;
    counters.tx_bytes += message_len;
    counters.tx_keepalives += keepalive;
    counters.tx_stream += stream;
}

void encrypt_chunk(AeadEngine& engine, Keypair& keypair, TransportPacket* packets, size_t n,
                   uint32_t mtu, int64_t now_ns, PacketResult* results,
                   TransportCounters& counters, wire::MessageType type) noexcept {
    AeadOp ops[kTransportChunk];
    uint8_t live[kTransportChunk];
    const size_t n_sendable = encrypt_prepare_chunk(keypair, packets, n, mtu, now_ns, results,
                                                    counters, ops, live, type);
    // 5. Seal the burst.
    engine.seal_burst(ops, n_sendable);
    // 6. Results.
    for (size_t k = 0; k < n_sendable; ++k)
        encrypt_result(packets[live[k]], ops[k], results[live[k]], counters);
}

// Decrypt stages 1-3 for one packet: none, or why it goes no further.
DropReason check_one(const Keypair* keypair, const TransportPacket& packet,
                     int64_t now_ns) noexcept {
    if (packet.data == nullptr || packet.len < wire::kTransportMinLen) return DropReason::too_short;
    wire::TransportHeader header;
    std::memcpy(&header, packet.data, sizeof header);
    uint32_t type_word;
    std::memcpy(&type_word, packet.data, sizeof type_word);
    if (type_word != kTransportTypeWord && type_word != kStreamTypeWord) return DropReason::bad_type;
    // The index check also catches a caller that passed the wrong keypair.
    if (keypair == nullptr || keypair->local_index != header.receiver_index)
        return DropReason::unknown_index;
    if (key_expired(*keypair, now_ns)) return DropReason::key_expired;
    if (header.counter >= wire::kRejectAfterMessages) return DropReason::counter_exhausted;
    if (!keypair->replay.may_accept(header.counter)) return DropReason::replay;
    return DropReason::none;
}

// The open operation of a packet that passed check_one.
AeadOp open_op(const Keypair& keypair, const TransportPacket& packet) noexcept {
    uint64_t counter;
    std::memcpy(&counter, packet.data + offsetof(wire::TransportHeader, counter), sizeof counter);
    uint8_t* ciphertext = packet.data + wire::kTransportHeaderLen;
    const uint32_t ciphertext_len = packet.len - static_cast<uint32_t>(wire::kTransportMinLen);
    return AeadOp{
        .key = keypair.receive_key.data(),
        .counter = counter,
        .data = ciphertext,
        .len = ciphertext_len,
        .tag = ciphertext + ciphertext_len,
        .aad = is_stream(packet.data) ? packet.data : nullptr,
        .aad_len = is_stream(packet.data) ? static_cast<uint32_t>(wire::kStreamAadLen) : 0,
    };
}

// After stage 4: what the opened packet holds (stage 6's inner checks),
// before the replay window has seen it. No counters.
void open_result(const AeadOp& op, PacketResult& result) noexcept {
    result = PacketResult{};
    if (!op.ok) {
        result.reason = DropReason::auth_failed;
        return;
    }
    if (op.aad_len != 0) {  // a stream message: the stream engine parses it
        result.verdict = Verdict::stream;
        result.offset = static_cast<uint32_t>(wire::kTransportHeaderLen);
        result.length = op.len;
        return;
    }
    if (op.len == 0) {
        result.verdict = Verdict::keepalive;
        return;
    }
    const uint32_t inner_len = inner_packet_length(op.data, op.len);
    if (inner_len == 0) {
        result.reason = DropReason::invalid_inner_packet;
        return;
    }
    result.verdict = Verdict::deliver;
    result.offset = static_cast<uint32_t>(wire::kTransportHeaderLen);
    result.length = inner_len;
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
        const DropReason why = check_one(keypairs[i], packets[i], now_ns);
        if (why != DropReason::none) {
            drop(results[i], why, counters);
            continue;
        }
        ops[n_live] = open_op(*keypairs[i], packets[i]);
        live[n_live++] = static_cast<uint8_t>(i);
    }

    // 4. Open the burst; keys may differ per packet.
    engine.open_burst(ops, n_live);

    // 5-6. In packet order, so of two copies of one message in a burst the
    //      first wins.
    for (size_t k = 0; k < n_live; ++k) {
        const size_t i = live[k];
        open_result(ops[k], results[i]);
        decrypt_accept(*keypairs[i], packets[i], results[i], counters);
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
                   int64_t now_ns, PacketResult* results, TransportCounters& counters,
                   wire::MessageType type) noexcept {
    AeadEngine& engine = AeadEngine::this_thread();
    for (size_t start = 0; start < n; start += kTransportChunk) {
        const size_t count = std::min(kTransportChunk, n - start);
        encrypt_chunk(engine, keypair, packets + start, count, mtu, now_ns, results + start,
                      counters, type);
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

// ---- Pipeline mode: the same stages, split between lcores ----------------------------------

DropReason decrypt_check(const Keypair* keypair, const TransportPacket& packet,
                         int64_t now_ns) noexcept {
    return check_one(keypair, packet, now_ns);
}

void decrypt_open_burst(Keypair* const* keypairs, TransportPacket* packets, size_t n,
                        PacketResult* results) noexcept {
    AeadEngine& engine = AeadEngine::this_thread();
    for (size_t start = 0; start < n; start += kTransportChunk) {
        const size_t count = std::min(kTransportChunk, n - start);
        AeadOp ops[kTransportChunk];
        uint8_t live[kTransportChunk];
        size_t n_live = 0;
        for (size_t i = start; i < start + count; ++i) {
            results[i] = PacketResult{};
            if (keypairs[i] == nullptr) {
                results[i].reason = DropReason::unknown_index;
                continue;
            }
            ops[n_live] = open_op(*keypairs[i], packets[i]);
            live[n_live++] = static_cast<uint8_t>(i - start);
        }
        engine.open_burst(ops, n_live);
        for (size_t k = 0; k < n_live; ++k) open_result(ops[k], results[start + live[k]]);
    }
}

void decrypt_accept(Keypair& keypair, const TransportPacket& packet, PacketResult& result,
                    TransportCounters& counters) noexcept {
    const DropReason opened = result.reason;
    if (opened == DropReason::auth_failed || opened == DropReason::unknown_index) {
        drop(result, opened, counters);
        return;
    }
    // 5. Only now may the counter enter the window: a forged packet must not
    //    be able to slide it.
    uint64_t counter;
    std::memcpy(&counter, packet.data + offsetof(wire::TransportHeader, counter), sizeof counter);
    if (!keypair.replay.check_and_update(counter)) {
        drop(result, DropReason::replay, counters);
        return;
    }
    result.authenticated = true;
    // 6. The inner packet, as the opening found it.
    if (result.verdict == Verdict::drop) {
        drop(result, DropReason::invalid_inner_packet, counters);  // still authenticated
        return;
    }
    ++counters.rx_packets;
    counters.rx_bytes += packet.len;
    counters.rx_keepalives += result.verdict == Verdict::keepalive;
    counters.rx_stream += result.verdict == Verdict::stream;
}

size_t encrypt_prepare(Keypair& keypair, TransportPacket* packets, size_t n, uint32_t mtu,
                       int64_t now_ns, PacketResult* results, TransportCounters& counters,
                       wire::MessageType type) noexcept {
    size_t ready = 0;
    for (size_t start = 0; start < n; start += kTransportChunk) {
        const size_t count = std::min(kTransportChunk, n - start);
        AeadOp ops[kTransportChunk];
        uint8_t live[kTransportChunk];
        const size_t n_sendable = encrypt_prepare_chunk(keypair, packets + start, count, mtu,
                                                        now_ns, results + start, counters, ops, live,
                                                        type);
        for (size_t k = 0; k < n_sendable; ++k) {
            TransportPacket& packet = packets[start + live[k]];
            PacketResult& result = results[start + live[k]];
            // Not sealed yet: `send` with the length the message will have.
            result.verdict = Verdict::send;
            result.length =
                static_cast<uint32_t>(wire::kTransportHeaderLen + ops[k].len + wire::kAeadTagLen);
            packet.len = result.length;
        }
        ready += n_sendable;
    }
    return ready;
}

void encrypt_seal_burst(const Keypair& keypair, TransportPacket* packets, size_t n,
                        bool* ok) noexcept {
    AeadEngine& engine = AeadEngine::this_thread();
    for (size_t start = 0; start < n; start += kTransportChunk) {
        const size_t count = std::min(kTransportChunk, n - start);
        AeadOp ops[kTransportChunk];
        for (size_t k = 0; k < count; ++k) {
            const TransportPacket& packet = packets[start + k];
            ok[start + k] = false;
            uint64_t counter;
            std::memcpy(&counter, packet.data + offsetof(wire::TransportHeader, counter),
                        sizeof counter);
            ops[k] = seal_op(keypair, packet.data, counter,
                             packet.len - static_cast<uint32_t>(wire::kTransportMinLen));
        }
        engine.seal_burst(ops, count);
        for (size_t k = 0; k < count; ++k) ok[start + k] = ops[k].ok;
    }
}

void encrypt_count(const TransportPacket& packet, bool sealed, TransportCounters& counters) noexcept {
    if (!sealed) [[unlikely]] {
        ++counters.dropped(DropReason::crypto_error);
        return;
    }
    ++counters.tx_packets;
    counters.tx_bytes += packet.len;
    const bool stream = is_stream(packet.data);
    counters.tx_keepalives += packet.len == wire::kTransportOverhead && !stream;
    counters.tx_stream += stream;
}

}  // namespace sluice
