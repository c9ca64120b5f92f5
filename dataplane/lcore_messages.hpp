// What lcores and the control thread say to each other (DESIGN §3): fixed-size
// elements of bounded single-producer/single-consumer rte_rings, one ring each
// way per lcore. A full ring drops and counts; nothing ever waits on one.
//
//   lcore → control (Event):   handshake messages (types 1-3) as mbufs; packets
//                              for a peer without a usable keypair (staged, and
//                              a handshake is wanted); a keypair confirmed by
//                              its first packet; a peer seen at a new endpoint;
//                              decrypted stream messages for the stream engine.
//   control → lcore (Command): messages ready to send as they are (handshake
//                              messages, cookie replies); inner packets (or an
//                              empty one: a keepalive) to encrypt for a peer;
//                              stream packets to encrypt as stream messages;
//                              whole frames for an L2 port (ARP, neighbour
//                              discovery, packets that waited for a neighbour).
//
// Each side writes the other's eventfd after enqueueing, so a sleeping lcore
// or control thread wakes for it.
#pragma once

#include <cstdint>

#include "drivers/mbuf_endpoint.hpp"

struct rte_mbuf;

namespace sluice {

struct Event {
    enum class Kind : uint8_t {
        handshake_message,  // m: a message of type 1, 2 or 3; its endpoint in the mbuf
        staged,             // m: an inner packet for peer_id, which has no usable keypair
        keypair_confirmed,  // the first authenticated packet arrived on keypair `index`
        roamed,             // an authenticated packet for peer_id came from `endpoint`
        stream_message,     // m: the plaintext of an authenticated stream message from peer_id
    };
    Kind kind = Kind::handshake_message;
    uint8_t reserved[3] = {};
    uint32_t peer_id = 0;
    uint32_t index = 0;  // keypair_confirmed: the keypair's local index
    uint32_t reserved2 = 0;
    rte_mbuf* m = nullptr;
    MbufEndpoint endpoint;  // roamed
};
static_assert(sizeof(Event) % 4 == 0, "rte_ring element sizes are multiples of 4");

struct Command {
    enum class Kind : uint8_t {
        send_raw,  // m: a whole UDP payload with its endpoint set: send on the WAN
        encrypt,   // m: an inner packet (length 0: keepalive) for peer_id
        send_frame,  // m: a whole frame for port `port` (Port::tx_frames)
        encrypt_stream,  // m: a stream packet for peer_id: send as a stream message
                         // (no keypair: dropped as no_key; the engine retransmits)
    };
    enum class Target : uint8_t { wan, lan };
    Kind kind = Kind::send_raw;
    Target port = Target::wan;  // send_frame
    uint8_t reserved[2] = {};
    uint32_t peer_id = 0;
    rte_mbuf* m = nullptr;
};
static_assert(sizeof(Command) % 4 == 0, "rte_ring element sizes are multiples of 4");

}  // namespace sluice
