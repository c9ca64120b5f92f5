// sluicectl protocol frames: the 24-byte header, whole frames from a payload,
// and the FrameReader that cuts a byte stream into frames and says what was
// wrong with one that breaks the rules.
#include <algorithm>

#include "control/ctl_protocol.hpp"
#include "control/ctl_wire.hpp"

namespace sluice::ctl {

// ---- Header ---------------------------------------------------------------------------

void put_header(uint8_t* out, const Header& h) noexcept {
    const auto le = [out](size_t at, uint64_t v, size_t bytes) {
        for (size_t i = 0; i < bytes; ++i) out[at + i] = static_cast<uint8_t>(v >> (8 * i));
    };
    std::copy(kMagic.begin(), kMagic.end(), out);
    le(4, h.version, 2);
    le(6, h.command, 2);
    out[8] = static_cast<uint8_t>(h.kind);
    le(9, 0, 3);  // reserved
    le(12, h.request_id, 4);
    le(16, h.status, 4);
    le(20, h.payload_length, 4);
}

Header get_header(const uint8_t* p) noexcept {
    Header h;
    h.version = static_cast<uint16_t>(get_le(p + 4, 2));
    h.command = static_cast<uint16_t>(get_le(p + 6, 2));
    h.kind = static_cast<Kind>(p[8]);
    h.request_id = static_cast<uint32_t>(get_le(p + 12, 4));
    h.status = static_cast<uint32_t>(get_le(p + 16, 4));
    h.payload_length = static_cast<uint32_t>(get_le(p + 20, 4));
    return h;
}

Error header_problem(const Header& h, Kind expect, uint32_t max_payload, uint8_t reserved_or) {
    if (h.version != kProtocolVersion) return {Errc::wrong_version, "", 0, h.version};
    if (h.kind != Kind::request && h.kind != Kind::response)
        return {Errc::bad_header, "kind " + std::to_string(static_cast<int>(h.kind))};
    if (reserved_or != 0) return {Errc::bad_header, "reserved bytes are not zero"};
    if (h.kind != expect)
        return {Errc::wrong_direction, expect == Kind::request
                                           ? "a response where a request belongs"
                                           : "a request where a response belongs"};
    if (h.kind == Kind::request && h.status != 0)
        return {Errc::bad_header, "a request with a non-zero status"};
    if (h.status > kMaxStatus)
        return {Errc::bad_header, "status " + std::to_string(h.status) + " is not an errno"};
    if (h.payload_length > max_payload)
        return {Errc::oversized, "payload of " + std::to_string(h.payload_length) +
                                     " bytes, the limit is " + std::to_string(max_payload)};
    return {};
}

std::vector<uint8_t> encode_frame(Header header, std::span<const uint8_t> payload) {
    header.payload_length = static_cast<uint32_t>(payload.size());
    // Reserved up front: one allocation, and GCC 12 stops seeing an
    // out-of-bounds memcpy in the insert that follows a sized construction.
    std::vector<uint8_t> out;
    out.reserve(kHeaderSize + payload.size());
    out.resize(kHeaderSize);
    put_header(out.data(), header);
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
}

// ---- FrameReader ----------------------------------------------------------------------

FrameReader::FrameReader(Kind expect, uint32_t max_payload) noexcept
    : expect_(expect), max_payload_(max_payload) {}

void FrameReader::fail(Error error) {
    state_ = State::failed;
    error_ = std::move(error);
    payload_.clear();
    payload_.shrink_to_fit();
}

void FrameReader::check_header() {
    header_ = get_header(header_bytes_.data());
    const uint8_t reserved = header_bytes_[9] | header_bytes_[10] | header_bytes_[11];
    if (Error e = header_problem(header_, expect_, max_payload_, reserved); e.code != Errc::ok)
        fail(std::move(e));
}

size_t FrameReader::feed(std::span<const uint8_t> bytes) {
    size_t used = 0;
    while (used < bytes.size() && state_ == State::need_more) {
        const size_t left = bytes.size() - used;
        if (have_ < kHeaderSize) {
            const size_t n = std::min(kHeaderSize - have_, left);
            std::copy_n(bytes.data() + used, n, header_bytes_.data() + have_);
            // Compare the magic as soon as any of it is here, so that a stray
            // client speaking something else fails on its first byte.
            const size_t magic_seen = std::min(have_ + n, kMagic.size());
            for (size_t i = have_; i < magic_seen; ++i) {
                if (header_bytes_[i] != kMagic[i]) {
                    fail(Error{Errc::bad_magic, {}});
                    return used + (i - have_) + 1;
                }
            }
            have_ += n;
            used += n;
            if (have_ < kHeaderSize) continue;
            check_header();
            if (state_ == State::failed) return used;
            payload_.clear();
            // Reserve what arrives in one socket read at most; the rest grows
            // with the bytes themselves, so a header that promises much and
            // sends little costs little.
            payload_.reserve(std::min<size_t>(header_.payload_length, 64 * 1024));
            if (header_.payload_length == 0) state_ = State::frame_ready;
        } else {
            const size_t n = std::min<size_t>(header_.payload_length - payload_.size(), left);
            payload_.insert(payload_.end(), bytes.data() + used, bytes.data() + used + n);
            have_ += n;
            used += n;
            if (payload_.size() == header_.payload_length) state_ = State::frame_ready;
        }
    }
    return used;
}

void FrameReader::finish() {
    if (state_ != State::need_more || have_ == 0) return;
    const size_t expected =
        have_ < kHeaderSize ? kHeaderSize : kHeaderSize + header_.payload_length;
    fail({Errc::truncated, "after " + std::to_string(have_) + " of " +
                               (have_ < kHeaderSize ? "at least " : "") + std::to_string(expected) +
                               " bytes"});
}

Frame FrameReader::take() {
    Frame frame{header_, std::move(payload_)};
    payload_ = {};
    have_ = 0;
    state_ = State::need_more;
    return frame;
}

std::vector<uint8_t> FrameReader::error_reply() const {
    if (state_ != State::failed || expect_ != Kind::request || have_ < kHeaderSize) return {};
    switch (error_.code) {
        // For wrong_version the other end stops at our header's version and
        // never reads the message; it is there so that every failure frame
        // has the same shape.
        case Errc::wrong_version:
        case Errc::bad_header:
        case Errc::wrong_direction:
        case Errc::oversized:
            return encode_failure(header_.command, header_.request_id,
                                  {errno_for(error_.code), describe(error_)});
        default:
            return {};
    }
}

}  // namespace sluice::ctl
