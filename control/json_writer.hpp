// One line of JSON, built by the caller in order: sluicectl --json and
// sluice-perf --json write theirs with it.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "control/ctl_protocol.hpp"
#include "dataplane/ip_prefix.hpp"

namespace sluice {

// A small JSON writer: commas and quoting are its business, the shape is the
// caller's. Strings pass through ctl::one_line first, so even a value built
// by hand (not decoded) cannot produce a control character or broken UTF-8.
class JsonWriter {
public:
    JsonWriter& begin_object() { return open('{'); }
    JsonWriter& end_object() { return close('}'); }
    JsonWriter& begin_array() { return open('['); }
    JsonWriter& end_array() { return close(']'); }

    JsonWriter& key(std::string_view k) {
        separate();
        quote(k);
        out_ += ':';
        after_key_ = true;
        return *this;
    }
    JsonWriter& str(std::string_view v) {
        separate();
        quote(v);
        return *this;
    }
    JsonWriter& num(uint64_t v) {
        separate();
        out_ += std::to_string(v);
        return *this;
    }
    // A number with `decimals` digits after the point (figures, rates).
    JsonWriter& real(double v, int decimals) {
        separate();
        char buf[48];
        std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
        out_ += buf;
        return *this;
    }
    JsonWriter& flag(bool v) {
        separate();
        out_ += v ? "true" : "false";
        return *this;
    }
    JsonWriter& null() {
        separate();
        out_ += "null";
        return *this;
    }

    JsonWriter& str(std::string_view k, std::string_view v) { return key(k).str(v); }
    JsonWriter& num(std::string_view k, uint64_t v) { return key(k).num(v); }
    JsonWriter& real(std::string_view k, double v, int decimals) { return key(k).real(v, decimals); }
    JsonWriter& flag(std::string_view k, bool v) { return key(k).flag(v); }
    JsonWriter& prefixes(std::string_view k, const std::vector<IpPrefix>& list) {
        key(k).begin_array();
        for (const IpPrefix& p : list) str(p.to_string());
        return end_array();
    }

    std::string line() { return out_ + "\n"; }

private:
    JsonWriter& open(char c) {
        separate();
        out_ += c;
        first_.push_back(true);
        return *this;
    }
    JsonWriter& close(char c) {
        out_ += c;
        first_.pop_back();
        return *this;
    }
    void separate() {
        if (after_key_) {
            after_key_ = false;
            return;
        }
        if (!first_.empty()) {
            if (!first_.back()) out_ += ',';
            first_.back() = false;
        }
    }
    void quote(std::string_view s) {
        out_ += '"';
        for (const char c : ctl::one_line(s, s.size())) {
            if (c == '"' || c == '\\') out_ += '\\';
            out_ += c;
        }
        out_ += '"';
    }

    std::string out_;
    std::vector<bool> first_;
    bool after_key_ = false;
};

}  // namespace sluice
