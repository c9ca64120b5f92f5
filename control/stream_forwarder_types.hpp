// StreamForwarder's private types, shared by stream_forwarder.cpp (sessions)
// and stream_connections.cpp (sockets). Control thread only.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "control/stream_forwarder.hpp"

namespace sluice {

// Accepted connections wait this long for a stream (the session opening,
// or stream-count credit) before they are refused.
inline constexpr StreamForwarder::Time kWaitingLimit = std::chrono::seconds(10);
// Accepted connections waiting for a stream, per peer, at most.
inline constexpr size_t kMaxWaiting = 1024;

struct StreamForwarder::Peer {
    uint32_t id = 0;  // the gateway's peer id
    Key key{};
    std::string name;
    std::vector<StreamTarget> allow;
    std::unique_ptr<streams::Session> session;
    std::optional<Time> restart_at;  // a closed session is replaced then
    Time backoff = std::chrono::seconds(1);
    bool was_open = false;           // this session reached `open`
    bool held = false;               // last round: data waited for a keypair
    std::string last_close;          // why the previous session ended
    std::map<uint64_t, uint64_t> conns;  // stream id → connection key
    std::deque<uint64_t> waiting;        // accepted connections without a stream yet
};

struct StreamForwarder::Conn {
    enum class Phase : uint8_t {
        waiting,     // local: accepted, no stream yet
        preamble,    // remote: reading which target to connect to
        connecting,  // remote: connect() in progress
        open,        // spliced both ways
    };
    uint64_t key = 0;  // epoll key and conns_ key
    int fd = -1;
    uint32_t peer_id = 0;
    bool local = false;
    Phase phase = Phase::waiting;
    bool has_stream = false;
    uint64_t stream = 0;
    std::string label;             // the forward, for logs and sluicectl
    streams::Preamble target;      // local: what to ask for; remote: what was asked
    Time since{0};
    std::vector<uint8_t> pending;  // local: preamble bytes not yet taken by the stream;
                                   // remote: preamble bytes read so far
    bool read_eof = false;         // TCP sent its FIN: the stream's fin is written
    bool write_shut = false;       // the stream's fin reached TCP (SHUT_WR)
    bool want_read = false, want_write = false;
    bool registered = false;       // in the epoll set
};

struct StreamForwarder::Listener {
    uint64_t key = 0;
    int fd = -1;
    const ForwardConfig* forward = nullptr;
    std::string label;
};

}  // namespace sluice
