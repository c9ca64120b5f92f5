#include "control/stream_bbr.hpp"

#include <algorithm>

namespace sluice::streams {

namespace {

constexpr double kHighGain = 2.885;  // 2/ln 2: doubles the rate each round
constexpr double kProbeGains[] = {1.25, 0.75, 1, 1, 1, 1, 1, 1};
constexpr unsigned kCycleLength = sizeof kProbeGains / sizeof kProbeGains[0];
constexpr uint64_t kBwWindowRounds = 10;
constexpr auto kMinRttWindow = std::chrono::seconds(10);
constexpr unsigned kFullBwRounds = 3;
constexpr double kFullBwGrowth = 1.25;
constexpr uint64_t kMinCwndPackets = 4;
constexpr auto kAckAggregation = std::chrono::milliseconds(2);

}  // namespace

std::string_view to_string(Bbr::Mode m) noexcept {
    switch (m) {
        case Bbr::Mode::startup: return "startup";
        case Bbr::Mode::drain: return "drain";
        case Bbr::Mode::probe_bw: return "probe_bw";
    }
    return "unknown";
}

uint64_t Bbr::bdp(double gain) const noexcept {
    const double bytes = gain * max_bw_ * static_cast<double>(min_rtt_.count());
    return static_cast<uint64_t>(bytes);
}

void Bbr::update_bandwidth(const RateSample& rs) {
    if (rs.interval <= Time{0} || rs.delivered == 0) return;
    const double bw = static_cast<double>(rs.delivered) / static_cast<double>(rs.interval.count());
    // An app-limited sample only ever raises the estimate: the sender, not
    // the path, held it down.
    if (rs.app_limited && bw < max_bw_) return;
    while (!bw_samples_.empty() && bw_samples_.back().second <= bw) bw_samples_.pop_back();
    bw_samples_.emplace_back(round_, bw);
    while (bw_samples_.front().first + kBwWindowRounds <= round_) bw_samples_.pop_front();
    max_bw_ = bw_samples_.front().second;
}

void Bbr::on_ack(Time now, uint64_t delivered, uint64_t bytes_in_flight, const RateSample& rs,
                 Time rtt, Time srtt) {
    srtt_ = srtt;
    // A round trip ends when a packet sent after the previous round's end is
    // acknowledged.
    round_start_ = false;
    if (rs.prior_delivered >= next_round_delivered_) {
        next_round_delivered_ = delivered;
        ++round_;
        round_start_ = true;
    }
    if (rtt > Time{0} && (min_rtt_ == Time{0} || rtt <= min_rtt_ ||
                          now - min_rtt_stamp_ > kMinRttWindow)) {
        min_rtt_ = rtt;
        min_rtt_stamp_ = now;
    }
    update_bandwidth(rs);
    if (bw_samples_.empty()) return;
    // Samples age out by rounds even when no new one comes in.
    while (bw_samples_.size() > 1 && bw_samples_.front().first + kBwWindowRounds <= round_)
        bw_samples_.pop_front();
    max_bw_ = bw_samples_.front().second;

    switch (mode_) {
        case Mode::startup:
            if (round_start_ && !rs.app_limited) {
                if (max_bw_ >= full_bw_ * kFullBwGrowth) {
                    full_bw_ = max_bw_;
                    full_bw_rounds_ = 0;
                } else if (++full_bw_rounds_ >= kFullBwRounds) {
                    mode_ = Mode::drain;
                }
            }
            break;
        case Mode::drain:
            if (bytes_in_flight <= bdp(1.0)) {
                mode_ = Mode::probe_bw;
                cycle_ = 2;  // start cruising: the queue startup built is gone
                cycle_stamp_ = now;
            }
            break;
        case Mode::probe_bw:
            if (now - cycle_stamp_ > min_rtt_) {
                cycle_ = (cycle_ + 1) % kCycleLength;
                cycle_stamp_ = now;
            }
            break;
    }
}

uint64_t Bbr::cwnd() const noexcept {
    if (!has_estimate() || min_rtt_ == Time{0}) return initial_cwnd_;
    const double gain = mode_ == Mode::probe_bw ? 2.0 : kHighGain;
    // The smoothed RTT where ACKs bunch up, but never more than the minimum
    // plus kAckAggregation, so a queue that builds cannot feed the window.
    const Time rtt = std::min(std::max(min_rtt_, srtt_), min_rtt_ + kAckAggregation);
    const auto window = static_cast<uint64_t>(gain * max_bw_ * static_cast<double>(rtt.count()));
    return std::max(window, kMinCwndPackets * mss_);
}

double Bbr::pacing_rate() const noexcept {
    double gain = kHighGain;
    if (mode_ == Mode::drain) gain = 1.0 / kHighGain;
    if (mode_ == Mode::probe_bw) gain = kProbeGains[cycle_];
    return gain * max_bw_;
}

}  // namespace sluice::streams
