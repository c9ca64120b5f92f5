// A model-based congestion controller for stream sessions, after BBR (v1, as
// draft-cardwell-iccrg-bbr-congestion-control describes it): the sender
// estimates the path's bottleneck bandwidth (the largest delivery rate seen
// over the last 10 round trips) and its propagation delay (the smallest RTT
// over 10 s), paces at a gain times that bandwidth and keeps about two
// bandwidth-delay products in flight. Random loss does not shrink the
// window, which is what a WAN with 1 % loss needs: NewReno halves its window
// on every loss and ends far below the path's rate.
//
// Modes: startup (gain 2.885 until the bandwidth stops growing by 25 % for
// three rounds), drain (until in flight ≤ one BDP), probe_bw (pacing gains
// cycling 1.25, 0.75, then six rounds at 1, one min-RTT each). No ProbeRTT
// phase: an old minimum RTT is simply replaced by the latest sample.
//
// One departure: the window is the gain times the bandwidth times the
// smoothed RTT (at most the minimum plus 2 ms), not the minimum alone. The engine
// runs on a control thread that takes stream messages from rings a batch at
// a time, so on a short path its ACKs come in bursts, and a window of two
// minimum-RTT BDPs (a few packets at 0.2 ms) would cap a 2 Gbit/s stream
// at a fraction of that; pacing, not the window, keeps the queue short.
//
// Pure arithmetic over the engine's acknowledgements; no clock of its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string_view>
#include <utility>

namespace sluice::streams {

// What one acknowledgement says about the delivery rate (after the rate
// sampling of draft-cheng-iccrg-delivery-rate-estimation).
struct RateSample {
    uint64_t delivered = 0;            // bytes delivered over `interval`
    std::chrono::nanoseconds interval{0};
    uint64_t prior_delivered = 0;      // the session's delivered count when that packet left
    bool app_limited = false;          // the sender had nothing to send: a low rate means little
};

class Bbr {
public:
    using Time = std::chrono::nanoseconds;
    enum class Mode : uint8_t { startup, drain, probe_bw };

    Bbr(uint64_t mss, uint64_t initial_cwnd) : mss_(mss), initial_cwnd_(initial_cwnd) {}

    // After an ACK that acknowledged new data. `delivered`: the session's
    // running count of delivered bytes; `rtt`: this ACK's RTT sample (0: none);
    // `srtt`: the session's smoothed RTT.
    void on_ack(Time now, uint64_t delivered, uint64_t bytes_in_flight, const RateSample& rs,
                Time rtt, Time srtt);

    [[nodiscard]] bool has_estimate() const noexcept { return max_bw_ > 0; }
    [[nodiscard]] uint64_t cwnd() const noexcept;
    [[nodiscard]] double pacing_rate() const noexcept;  // bytes per nanosecond
    [[nodiscard]] double bandwidth() const noexcept { return max_bw_; }
    [[nodiscard]] Time min_rtt() const noexcept { return min_rtt_; }
    [[nodiscard]] Mode mode() const noexcept { return mode_; }

private:
    uint64_t bdp(double gain) const noexcept;
    void update_bandwidth(const RateSample& rs);

    uint64_t mss_;
    uint64_t initial_cwnd_;
    Mode mode_ = Mode::startup;
    uint64_t round_ = 0;
    uint64_t next_round_delivered_ = 0;
    bool round_start_ = false;
    std::deque<std::pair<uint64_t, double>> bw_samples_;  // (round, bytes/ns), max filter
    double max_bw_ = 0;
    double full_bw_ = 0;
    unsigned full_bw_rounds_ = 0;
    Time min_rtt_{0};
    Time min_rtt_stamp_{0};
    Time srtt_{0};
    unsigned cycle_ = 0;
    Time cycle_stamp_{0};
};

std::string_view to_string(Bbr::Mode m) noexcept;

}  // namespace sluice::streams
