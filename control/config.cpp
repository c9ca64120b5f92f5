// The configuration loader: YAML text → Config, or one ConfigError.
//
// Stages, in order; the first problem found ends the load:
//   1. bytes: size limit, no control characters (so every later message is
//      one printable line and yaml-cpp never sees a NUL), and a bound on
//      flow-collection nesting that keeps yaml-cpp's memory in check;
//   2. YAML: yaml-cpp's event parser builds a small tree of our own (Tree)
//      that keeps a line and column for every key and value, rejects
//      duplicate keys, custom tags, alias cycles and deep nesting, and holds
//      no yaml-cpp types, so the rest of this file never meets the library;
//   3. schema: each section is read through a MapView that refuses unknown
//      keys (with a "did you mean") before any value is looked at, then every
//      value is checked for type, range and form;
//   4. cross-checks: duplicates across peers, driver against devices, and so on.
//
// Secrets: key material is never put into a message (a bad key is described
// by its length or the position of the first bad character), and the scalar
// strings of the tree and the bytes of key files are wiped after use. yaml-cpp
// keeps its own internal copies of scanned text, which we cannot reach.
#include "control/config.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <istream>
#include <map>
#include <span>
#include <streambuf>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "control/crypto.hpp"
#include "control/key_encoding.hpp"

namespace sluice {

// ---- ConfigError ----------------------------------------------------------------

namespace {
std::string format_error(const std::string& file, int line, int column, const std::string& key,
                         const std::string& message) {
    return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + key + ": " +
           message;
}
}  // namespace

ConfigError::ConfigError(std::string file, int line, int column, std::string key,
                         std::string message)
    : std::runtime_error(format_error(file, line, column, key, message)),
      file_(std::move(file)),
      line_(line),
      column_(column),
      key_(std::move(key)),
      message_(std::move(message)) {}

// ---- Addresses --------------------------------------------------------------------

namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Plain decimal without sign or leading zeros, at most `max`.
std::optional<uint32_t> parse_decimal(std::string_view s, uint32_t max) {
    if (s.empty() || s.size() > 10 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
    uint64_t v = 0;
    for (char c : s) {
        if (!is_digit(c)) return std::nullopt;
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    if (v > max) return std::nullopt;
    return static_cast<uint32_t>(v);
}

}  // namespace

std::optional<IpAddress> parse_ip_address(std::string_view text) {
    // inet_pton needs a terminated string; nothing valid is longer than
    // INET6_ADDRSTRLEN, so a longer input is refused before the copy.
    char buf[INET6_ADDRSTRLEN + 1];
    if (text.empty() || text.size() >= sizeof buf) return std::nullopt;
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    IpAddress a;
    if (text.find(':') == std::string_view::npos) {
        a.family = IpFamily::v4;
        if (inet_pton(AF_INET, buf, a.addr.data()) != 1) return std::nullopt;
    } else {
        a.family = IpFamily::v6;
        if (inet_pton(AF_INET6, buf, a.addr.data()) != 1) return std::nullopt;
    }
    return a;
}

std::string IpAddress::to_string() const {
    char buf[INET6_ADDRSTRLEN];
    const int af = family == IpFamily::v4 ? AF_INET : AF_INET6;
    if (!inet_ntop(af, addr.data(), buf, sizeof buf)) return "?";
    return buf;
}

std::optional<Cidr> parse_cidr(std::string_view text) {
    const size_t slash = text.find('/');
    const auto address = parse_ip_address(text.substr(0, slash));
    if (!address) return std::nullopt;
    Cidr c;
    c.family = address->family;
    c.addr = address->addr;
    c.length = Cidr::max_length(c.family);
    if (slash != std::string_view::npos) {
        const auto length = parse_decimal(text.substr(slash + 1), Cidr::max_length(c.family));
        if (!length) return std::nullopt;
        c.length = static_cast<uint8_t>(*length);
    }
    return c;
}

Cidr Cidr::masked() const noexcept {
    Cidr m = *this;
    for (size_t i = 0; i < m.addr.size(); ++i) {
        const size_t first_bit = i * 8;
        if (first_bit >= length) {
            m.addr[i] = 0;
        } else if (first_bit + 8 > length) {
            m.addr[i] &= static_cast<uint8_t>(0xff << (8 - (length - first_bit)));
        }
    }
    return m;
}

std::string Cidr::to_string() const {
    return address().to_string() + "/" + std::to_string(length);
}

namespace {

// RFC 1123 host name: dot-separated labels of letters, digits and hyphens,
// 1..63 characters each, not starting or ending with a hyphen, 253 in all.
// A name made only of digits and dots is a mistyped IPv4 address, not a name.
bool valid_hostname(std::string_view host) {
    if (host.empty() || host.size() > 253) return false;
    bool only_digits_and_dots = true;
    size_t label_start = 0;
    for (size_t i = 0; i <= host.size(); ++i) {
        if (i == host.size() || host[i] == '.') {
            const std::string_view label = host.substr(label_start, i - label_start);
            // One trailing dot (the root) is allowed: "vpn.example.com."
            if (label.empty() && !(i == host.size() && label_start > 0)) return false;
            if (!label.empty() &&
                (label.size() > 63 || label.front() == '-' || label.back() == '-'))
                return false;
            label_start = i + 1;
            continue;
        }
        const char c = host[i];
        if (!is_alpha(c) && !is_digit(c) && c != '-') return false;
        if (!is_digit(c)) only_digits_and_dots = false;
    }
    return !only_digits_and_dots;
}

}  // namespace

std::optional<Endpoint> parse_endpoint(std::string_view text, std::string* why_not) {
    auto refuse = [why_not](const char* why) -> std::optional<Endpoint> {
        if (why_not) *why_not = why;
        return std::nullopt;
    };
    Endpoint e;
    std::string_view host, port;
    if (!text.empty() && text.front() == '[') {
        const size_t close = text.find(']');
        if (close == std::string_view::npos) return refuse("no ']' after the IPv6 address");
        host = text.substr(1, close - 1);
        if (close + 1 >= text.size() || text[close + 1] != ':')
            return refuse("no ':port' after the ']'");
        port = text.substr(close + 2);
        if (host.find('%') != std::string_view::npos)
            return refuse("IPv6 zone ids (%eth0) are not supported");
        const auto a = parse_ip_address(host);
        if (!a || a->family != IpFamily::v6) return refuse("not an IPv6 address inside [ ]");
        e.kind = Endpoint::Kind::ipv6;
        e.address = *a;
    } else {
        const size_t colon = text.rfind(':');
        if (colon == std::string_view::npos) return refuse("no ':port' at the end");
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos)
            return refuse("an IPv6 endpoint needs brackets: [2001:db8::1]:51820");
        if (host.empty()) return refuse("no host before ':port'");
        if (const auto a = parse_ip_address(host)) {
            e.kind = Endpoint::Kind::ipv4;
            e.address = *a;
        } else if (valid_hostname(host)) {
            e.kind = Endpoint::Kind::hostname;
        } else {
            return refuse("neither an IPv4 address nor a host name");
        }
    }
    const auto p = parse_decimal(port, 65535);
    if (!p || *p == 0) return refuse("the port must be a number 1..65535");
    e.host = std::string(host);
    e.port = static_cast<uint16_t>(*p);
    return e;
}

std::string Endpoint::to_string() const {
    const std::string p = ":" + std::to_string(port);
    switch (kind) {
        case Kind::ipv4:
            return address.to_string() + p;
        case Kind::ipv6:
            return "[" + address.to_string() + "]" + p;
        case Kind::hostname:
            break;
    }
    return host + p;
}

// ---- Enumerations ---------------------------------------------------------------------

namespace {
constexpr std::pair<std::string_view, Driver> kDrivers[] = {
    {"auto", Driver::automatic},
    {"dpdk", Driver::dpdk},
    {"af_xdp", Driver::af_xdp},
    {"kernel", Driver::kernel},
};
constexpr std::pair<std::string_view, DataplaneMode> kModes[] = {
    {"run-to-completion", DataplaneMode::run_to_completion},
    {"pipeline", DataplaneMode::pipeline},
};
}  // namespace

std::string_view to_string(Driver driver) noexcept {
    for (const auto& [name, value] : kDrivers)
        if (value == driver) return name;
    return "?";
}

std::string_view to_string(DataplaneMode mode) noexcept {
    for (const auto& [name, value] : kModes)
        if (value == mode) return name;
    return "?";
}

std::string_view to_string(DeviceKind kind) noexcept {
    switch (kind) {
        case DeviceKind::pci:
            return "PCI device";
        case DeviceKind::vdev:
            return "DPDK vdev";
        case DeviceKind::kernel_interface:
            return "kernel interface";
    }
    return "?";
}

// ---- Text for messages --------------------------------------------------------------

namespace {

// A value as it may appear in a message: in double quotes, on one line, with
// anything unprintable escaped and long text cut.
std::string shown(std::string_view s) {
    static constexpr size_t kMaxShown = 60;
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "\"";
    for (size_t i = 0; i < s.size(); ++i) {
        if (i == kMaxShown) {
            out += "...";
            break;
        }
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20 || c >= 0x7f) {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 0xf];
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

// A key as it appears in a KEY path: as written when it is short printable
// ASCII without spaces, else shown() (quoted, escaped, cut), so that a key
// holding a newline cannot break the one-line message.
std::string path_part(std::string_view key) {
    const bool plain =
        !key.empty() && key.size() <= 60 &&
        std::all_of(key.begin(), key.end(), [](char c) { return c > ' ' && c < 0x7f; });
    return plain ? std::string(key) : shown(key);
}

bool has_control_chars(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) == 0x7f;
    });
}

// Lowercase without '_' and '-', so "PrivateKey", "private-key" and
// "private_key" compare equal.
std::string normalized(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '_' || c == '-') continue;
        out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    return out;
}

// Edits (insert, delete, substitute, swap two neighbours) from a to b: the
// optimal string alignment distance, so that "dpkd" is one edit from "dpdk".
size_t edit_distance(std::string_view a, std::string_view b) {
    const size_t width = b.size() + 1;
    std::vector<size_t> d((a.size() + 1) * width);
    const auto at = [&](size_t i, size_t j) -> size_t& { return d[i * width + j]; };
    for (size_t i = 0; i <= a.size(); ++i) at(i, 0) = i;
    for (size_t j = 0; j <= b.size(); ++j) at(0, j) = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        for (size_t j = 1; j <= b.size(); ++j) {
            const size_t cost = a[i - 1] != b[j - 1];
            at(i, j) = std::min({at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                at(i, j) = std::min(at(i, j), at(i - 2, j - 2) + 1);
        }
    }
    return at(a.size(), b.size());
}

// The candidate a typo most likely meant, or "" when none is close: equal
// after normalising, or within one edit (two for longer words).
std::string_view closest(std::string_view word, std::span<const std::string_view> candidates) {
    if (word.size() > 64) return {};
    const std::string w = normalized(word);
    std::string_view best;
    size_t best_distance = SIZE_MAX;
    for (std::string_view c : candidates) {
        const size_t d = edit_distance(w, normalized(c));
        if (d < best_distance) {
            best_distance = d;
            best = c;
        }
    }
    const size_t allowed = w.size() >= 6 ? 2 : 1;
    return best_distance <= allowed ? best : std::string_view{};
}

std::string joined(std::span<const std::string_view> words) {
    std::string out;
    for (std::string_view w : words) {
        if (!out.empty()) out += ", ";
        out += w;
    }
    return out;
}

std::string range_text(uint64_t lo, uint64_t hi) {
    return std::to_string(lo) + ".." + std::to_string(hi);
}

// Overwrites a string's whole buffer, not only its current size.
void wipe_string(std::string& s) {
    s.resize(s.capacity());
    secure_wipe(s.data(), s.size());
    s.clear();
}

// What is wrong with a key's text, without repeating any of it.
std::string key_problem(std::string_view text) {
    if (text.size() != 44) return std::to_string(text.size()) + " characters";
    for (size_t i = 0; i < 43; ++i) {
        const char c = text[i];
        if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '/')
            return "a character that is not base64 at position " + std::to_string(i + 1);
    }
    if (text[43] != '=') return "44 characters without the final '='";
    return "44 characters that are not a canonical encoding of 32 bytes";
}

}  // namespace

// ---- The YAML tree ---------------------------------------------------------------------

namespace {

constexpr size_t kMaxFileBytes = size_t{16} << 20;  // some 80 000 peers
constexpr size_t kMaxNodes = 2'000'000;
constexpr size_t kMaxDepth = 16;              // the schema needs 6
constexpr int kMaxFlowDepth = 64;             // see check_text()
constexpr size_t kMaxFlowTokens = 1'000'000;  // see check_text()
constexpr size_t kMaxKeyFileBytes = 1024;

struct YNode {
    enum class Kind : uint8_t { null, scalar, sequence, map };
    Kind kind = Kind::null;
    bool quoted = false;  // quoted, a block scalar, or tagged !!str: a string, never a number
    int line = 1;         // from 1
    int column = 1;
    std::string text;                // scalars
    std::vector<uint32_t> children;  // sequence: items; map: key, value, key, value, ...
};

struct Tree {
    std::vector<YNode> nodes;
    uint32_t root = 0;
    bool has_root = false;

    Tree() = default;
    Tree(const Tree&) = delete;
    Tree& operator=(const Tree&) = delete;
    // Inline private keys pass through here.
    ~Tree() {
        for (YNode& n : nodes) wipe_string(n.text);
    }
};

std::string describe(const YNode& n) {
    switch (n.kind) {
        case YNode::Kind::null:
            return "nothing";
        case YNode::Kind::sequence:
            return "a list";
        case YNode::Kind::map:
            return "a map";
        case YNode::Kind::scalar:
            break;
    }
    return shown(n.text);
}

// Reads from a string_view without copying it (the text may hold keys).
class ViewBuf : public std::streambuf {
public:
    explicit ViewBuf(std::string_view text) {
        char* p = const_cast<char*>(text.data());  // the get area is only read
        setg(p, p, p + text.size());
    }
};

// Receives yaml-cpp's events and builds the Tree. Errors that only the
// structure shows (duplicate keys, keys that are not text, alias cycles, tags
// we do not know, nesting too deep) are raised here, where the marks are.
class TreeBuilder final : public YAML::EventHandler {
public:
    TreeBuilder(Tree& tree, const std::string& file) : tree_(tree), file_(file) {}

    int documents() const { return documents_; }
    int last_document_line() const { return last_document_line_; }

    void OnDocumentStart(const YAML::Mark& mark) override {
        ++documents_;
        last_document_line_ = mark.line + 1;
    }
    void OnDocumentEnd() override {}

    void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
        const uint32_t n = add(YNode::Kind::null, mark);
        place(n);
        remember(anchor, n);
    }

    void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
        const auto it = anchors_.find(anchor);
        // Anchors are remembered once their node is complete, so an alias
        // inside its own anchor's node ("&a [*a]") finds nothing: no cycles.
        if (it == anchors_.end())
            fail(mark, current_path(),
                 "expected an alias to a complete node, found an alias to a node that contains it");
        place(it->second);
    }

    void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  const std::string& value) override {
        bool quoted = false;
        if (tag == "!" || tag == "tag:yaml.org,2002:str") {
            quoted = true;
        } else if (tag != "?" && !tag.empty() && tag != "tag:yaml.org,2002:int") {
            fail(mark, current_path(), "expected no YAML tag, found the tag " + shown(tag));
        }
        const uint32_t n = add(YNode::Kind::scalar, mark);
        tree_.nodes[n].quoted = quoted;
        tree_.nodes[n].text = value;
        place(n);
        remember(anchor, n);
    }

    void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                         YAML::EmitterStyle::value) override {
        open(YNode::Kind::sequence, mark, tag, "tag:yaml.org,2002:seq", anchor);
    }
    void OnSequenceEnd() override { close(); }

    void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                    YAML::EmitterStyle::value) override {
        open(YNode::Kind::map, mark, tag, "tag:yaml.org,2002:map", anchor);
    }
    void OnMapEnd() override { close(); }

private:
    struct Frame {
        uint32_t node;
        YAML::anchor_t anchor;
        std::string path;
        std::map<std::string, int> key_lines;  // maps: each key seen so far, and its line
        std::string pending_key;               // maps: the key whose value comes next
        int pending_key_line = 0;
        int pending_key_column = 0;
        bool expecting_key = true;
    };

    [[noreturn]] void fail(const YAML::Mark& mark, const std::string& path,
                           std::string message) const {
        throw ConfigError(file_, std::max(mark.line + 1, 1), std::max(mark.column + 1, 1),
                          path.empty() ? "(document)" : path, std::move(message));
    }

    std::string current_path() const {
        if (stack_.empty()) return {};
        const Frame& f = stack_.back();
        const YNode& parent = tree_.nodes[f.node];
        if (parent.kind == YNode::Kind::sequence)
            return f.path + "[" + std::to_string(parent.children.size()) + "]";
        if (f.expecting_key) return f.path;
        return f.path.empty() ? path_part(f.pending_key) : f.path + "." + path_part(f.pending_key);
    }

    uint32_t add(YNode::Kind kind, const YAML::Mark& mark) {
        if (tree_.nodes.size() >= kMaxNodes)
            fail(mark, current_path(),
                 "expected at most " + std::to_string(kMaxNodes) + " YAML nodes, found more");
        YNode n;
        n.kind = kind;
        n.line = std::max(mark.line + 1, 1);
        n.column = std::max(mark.column + 1, 1);
        tree_.nodes.push_back(std::move(n));
        return static_cast<uint32_t>(tree_.nodes.size() - 1);
    }

    void remember(YAML::anchor_t anchor, uint32_t node) {
        if (anchor != YAML::NullAnchor) anchors_[anchor] = node;
    }

    void open(YNode::Kind kind, const YAML::Mark& mark, const std::string& tag,
              std::string_view standard_tag, YAML::anchor_t anchor) {
        if (tag != "?" && !tag.empty() && tag != "!" && tag != standard_tag)
            fail(mark, current_path(), "expected no YAML tag, found the tag " + shown(tag));
        if (stack_.size() >= kMaxDepth)
            fail(mark, current_path(),
                 "expected at most " + std::to_string(kMaxDepth) +
                     " levels of nesting, found deeper nesting");
        const std::string path = current_path();
        const uint32_t n = add(kind, mark);
        place(n);
        stack_.push_back(Frame{n, anchor, path, {}, {}, 0, 0, true});
    }

    void close() {
        const Frame f = std::move(stack_.back());
        stack_.pop_back();
        remember(f.anchor, f.node);
    }

    // Attaches a finished (or just opened) node to its parent.
    void place(uint32_t n) {
        if (stack_.empty()) {
            if (!tree_.has_root) {
                tree_.root = n;
                tree_.has_root = true;
            }
            return;
        }
        Frame& f = stack_.back();
        YNode& child = tree_.nodes[n];
        if (tree_.nodes[f.node].kind == YNode::Kind::sequence) {
            tree_.nodes[f.node].children.push_back(n);
            return;
        }
        if (f.expecting_key) {
            YAML::Mark mark;
            mark.line = child.line - 1;
            mark.column = child.column - 1;
            if (child.kind != YNode::Kind::scalar)
                fail(mark, f.path,
                     "expected a text key, found " + describe(child) + " used as a key");
            const auto [it, inserted] = f.key_lines.emplace(child.text, child.line);
            const std::string key_path =
                f.path.empty() ? path_part(child.text) : f.path + "." + path_part(child.text);
            if (!inserted)
                fail(mark, key_path,
                     "expected each key once in a map, found " + shown(child.text) +
                         " again (first on line " + std::to_string(it->second) + ")");
            f.pending_key = child.text;
            f.pending_key_line = child.line;
            f.pending_key_column = child.column;
        } else if (child.kind == YNode::Kind::null && child.children.empty() &&
                   n + 1 == tree_.nodes.size()) {
            // yaml-cpp marks an empty value ("mtu:") at the next token, often
            // on the next line; the key is where the reader should look.
            child.line = f.pending_key_line;
            child.column = f.pending_key_column;
        }
        tree_.nodes[f.node].children.push_back(n);
        f.expecting_key = !f.expecting_key;
    }

    Tree& tree_;
    const std::string& file_;
    std::vector<Frame> stack_;
    std::unordered_map<YAML::anchor_t, uint32_t> anchors_;
    int documents_ = 0;
    int last_document_line_ = 1;
};

// ---- Reading the schema ------------------------------------------------------------------

// The line of `text` with number `line` (from 1), for hints on syntax errors.
std::string_view line_of(std::string_view text, int line) {
    size_t start = 0;
    for (int l = 1; l < line; ++l) {
        start = text.find('\n', start);
        if (start == std::string_view::npos) return {};
        ++start;
    }
    const size_t end = text.find('\n', start);
    return text.substr(start, end == std::string_view::npos ? end : end - start);
}

class Checker;

// A map in the file, checked against the keys its section allows. Unknown keys
// are refused first, so a typo in a required key reads "unknown key 'nmae'
// (did you mean name?)" rather than "name is missing".
class MapView {
public:
    MapView(const Checker& checker, const YNode& node, std::string path,
            std::span<const std::string_view> allowed, std::string_view what);

    const YNode* find(std::string_view key) const;
    const YNode* find_key(std::string_view key) const;
    const YNode& require(std::string_view key, std::string_view expectation) const;
    std::string path_of(std::string_view key) const {
        return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
    }
    const YNode& node() const { return node_; }
    const std::string& path() const { return path_; }

private:
    const Checker& checker_;
    const YNode& node_;
    std::string path_;
};

// Keys a misplaced top-level or section key may have been meant for, for hints
// such as "did you mean interface.listen_port?".
constexpr std::string_view kTopKeys[] = {"interface", "dataplane", "peers", "control"};
constexpr std::string_view kInterfaceKeys[] = {"name",        "private_key", "private_key_file",
                                               "listen_port", "addresses",   "mtu"};
constexpr std::string_view kDataplaneKeys[] = {"driver", "lcores", "burst", "mode", "ports"};
constexpr std::string_view kPortsKeys[] = {"wan", "lan"};
constexpr std::string_view kPortKeys[] = {"device",       "rx_ring_size", "tx_ring_size",
                                          "mempool_size", "addresses",    "gateway"};
constexpr std::string_view kPeerKeys[] = {
    "name",     "public_key",  "preshared_key",       "preshared_key_file",
    "endpoint", "allowed_ips", "persistent_keepalive"};
constexpr std::string_view kControlKeys[] = {"uapi_socket", "ctl_socket"};

struct Section {
    std::string_view name;
    std::span<const std::string_view> keys;
};
constexpr Section kSections[] = {
    {"interface", kInterfaceKeys},
    {"dataplane", kDataplaneKeys},
    {"control", kControlKeys},
};

class Checker {
public:
    Checker(const Tree& tree, std::string file, std::filesystem::path base_dir,
            std::vector<std::string>& warnings)
        : tree_(tree),
          file_(std::move(file)),
          base_dir_(std::move(base_dir)),
          warnings_(warnings) {}

    const YNode& node(uint32_t i) const { return tree_.nodes[i]; }

    [[noreturn]] void fail(const YNode& at, const std::string& path, std::string message) const {
        throw ConfigError(file_, at.line, at.column, path.empty() ? "(document)" : path,
                          std::move(message));
    }
    [[noreturn]] void expected(const YNode& at, const std::string& path,
                               std::string_view expectation, std::string_view found) const {
        fail(at, path, "expected " + std::string(expectation) + ", found " + std::string(found));
    }
    void warn(const YNode& at, const std::string& path, const std::string& message) const {
        warnings_.push_back(format_error(file_, at.line, at.column, path, "warning: " + message));
    }

    Config check(const YNode& root);

    // -- scalars --

    const std::string& text(const YNode& n, const std::string& path,
                            std::string_view expectation) const {
        if (n.kind != YNode::Kind::scalar) expected(n, path, expectation, describe(n));
        return n.text;
    }

    uint64_t integer(const YNode& n, const std::string& path, uint64_t lo, uint64_t hi,
                     std::string_view extra = {}) const {
        const std::string expectation = "an integer " + range_text(lo, hi) + std::string(extra);
        if (n.kind != YNode::Kind::scalar) expected(n, path, expectation, describe(n));
        if (n.quoted)
            expected(n, path, expectation + " without quotes", "the string " + shown(n.text));
        std::string_view s = n.text;
        const bool negative = !s.empty() && s[0] == '-';
        if (negative) s.remove_prefix(1);
        if (s.empty() || !std::all_of(s.begin(), s.end(), is_digit) ||
            (s.size() > 1 && s[0] == '0'))
            expected(n, path, expectation, shown(n.text));
        uint64_t v = 0;
        bool overflow = false;
        for (char c : s) {
            const auto digit = static_cast<uint64_t>(c - '0');
            if (v > (UINT64_MAX - digit) / 10) overflow = true;
            if (!overflow) v = v * 10 + digit;
        }
        // A number is shown as written, without the quotes a string would get.
        if (negative || overflow || v < lo || v > hi)
            expected(n, path, expectation, n.text.size() <= 24 ? n.text : shown(n.text));
        return v;
    }

    template <typename E, size_t N>
    E choice(const YNode& n, const std::string& path,
             const std::pair<std::string_view, E> (&options)[N]) const {
        std::string_view names[N];
        for (size_t i = 0; i < N; ++i) names[i] = options[i].first;
        const std::string expectation = "one of " + joined(names);
        const std::string& t = text(n, path, expectation);
        for (const auto& [name, value] : options)
            if (t == name) return value;
        std::string found = shown(t);
        if (const auto hint = closest(t, names); !hint.empty())
            found += " (did you mean " + std::string(hint) + "?)";
        expected(n, path, expectation, found);
    }

    // A path taken relative to the configuration file's directory.
    std::string file_path(const YNode& n, const std::string& path) const {
        const std::string& t = text(n, path, "a file path");
        if (t.empty() || has_control_chars(t))
            expected(n, path, "a file path without control characters", describe(n));
        // Absolute, so that the daemon finds the file again after a chdir("/").
        std::error_code ec;
        const std::filesystem::path p = std::filesystem::absolute(base_dir_ / t, ec);
        return ec ? (base_dir_ / t).string() : p.lexically_normal().string();
    }

    Key key(const YNode& n, const std::string& path, std::string_view what) const {
        const std::string expectation =
            "a base64 " + std::string(what) + " (44 characters ending in '=')";
        // describe() quotes scalars only, so it is safe here; key_problem()
        // describes a bad key without quoting it.
        if (n.kind != YNode::Kind::scalar) expected(n, path, expectation, describe(n));
        const auto k = key_from_base64(n.text);
        if (!k) expected(n, path, expectation, key_problem(n.text));
        return *k;
    }

    Key key_from_file(const YNode& n, const std::string& path, std::string_view what,
                      std::string& resolved) const;

    Cidr cidr(const YNode& n, const std::string& path, bool network) const {
        const std::string expectation =
            network ? "an IP prefix such as 10.0.0.0/24 or fd00::/64"
                    : "an address with its prefix length, such as 10.0.0.1/24 or fd00::1/64";
        const std::string& t = text(n, path, expectation);
        const auto c = parse_cidr(t);
        if (!c) {
            const auto slash = t.find('/');
            std::string found = shown(t);
            if (!parse_ip_address(std::string_view(t).substr(0, slash)))
                found += " (not an IPv4 or IPv6 address)";
            else
                found += " (the prefix length must be a number 0..32 for IPv4, 0..128 for IPv6)";
            expected(n, path, expectation, found);
        }
        if (network && !c->is_masked())
            expected(n, path,
                     "a prefix with no bits set past its length (" + c->masked().to_string() + ")",
                     shown(t));
        return *c;
    }

    template <typename F>
    void for_each(const YNode& n, const std::string& path, std::string_view expectation,
                  F&& visit) const {
        if (n.kind != YNode::Kind::sequence) expected(n, path, expectation, describe(n));
        for (size_t i = 0; i < n.children.size(); ++i)
            visit(node(n.children[i]), path + "[" + std::to_string(i) + "]");
    }

    std::vector<Cidr> address_list(const YNode& n, const std::string& path) const {
        std::vector<Cidr> out;
        std::map<Cidr, size_t> seen;
        for_each(n, path, "a list of addresses such as [10.0.0.1/24, fd00::1/64]",
                 [&](const YNode& item, const std::string& item_path) {
                     const Cidr c = cidr(item, item_path, false);
                     const auto [it, inserted] = seen.emplace(c, out.size());
                     if (!inserted)
                         expected(item, item_path, "each address once",
                                  c.to_string() + " again (also " + path + "[" +
                                      std::to_string(it->second) + "])");
                     out.push_back(c);
                 });
        return out;
    }

    std::string socket_path(const YNode& n, const std::string& path) const {
        // sun_path holds 108 bytes with the terminating NUL.
        const std::string expectation = "an absolute socket path of at most 107 bytes";
        const std::string& t = text(n, path, expectation);
        if (t.empty() || t[0] != '/' || t.back() == '/' || t.size() > 107 || has_control_chars(t))
            expected(n, path, expectation, shown(t));
        return t;
    }

    InterfaceConfig interface_section(const YNode& n, const std::string& path) const;
    DataplaneConfig dataplane_section(const YNode& n, const std::string& path) const;
    PortConfig port(const YNode& n, const std::string& path) const;
    std::vector<PeerConfig> peers_section(const YNode& n, const std::string& path,
                                          const InterfaceConfig& interface) const;
    PeerConfig peer(const YNode& n, const std::string& path) const;
    ControlConfig control_section(const YNode* n, const std::string& path,
                                  const std::string& name) const;
    void check_ports(const MapView& dataplane, DataplaneConfig& dp) const;

private:
    const Tree& tree_;
    std::string file_;
    std::filesystem::path base_dir_;
    std::vector<std::string>& warnings_;
};

MapView::MapView(const Checker& checker, const YNode& node, std::string path,
                 std::span<const std::string_view> allowed, std::string_view what)
    : checker_(checker), node_(node), path_(std::move(path)) {
    if (node.kind != YNode::Kind::map) checker.expected(node, path_, what, describe(node));
    for (size_t i = 0; i < node.children.size(); i += 2) {
        const YNode& key = checker.node(node.children[i]);
        if (std::find(allowed.begin(), allowed.end(), key.text) != allowed.end()) continue;
        std::string found = "unknown key " + shown(key.text);
        if (key.text == "<<") {
            found += " (YAML merge keys are not supported)";
        } else if (const auto hint = closest(key.text, allowed); !hint.empty()) {
            found += " (did you mean " + std::string(hint) + "?)";
        } else if (path_.empty() || path_ == "interface" || path_ == "dataplane" ||
                   path_ == "control") {
            // A key that belongs to another section: say which.
            for (const Section& s : kSections) {
                if (s.name == path_) continue;
                if (const auto h = closest(key.text, s.keys); !h.empty()) {
                    found += " (did you mean " + std::string(s.name) + "." + std::string(h) + "?)";
                    break;
                }
            }
        }
        checker.expected(key, path_of(path_part(key.text)), "one of " + joined(allowed), found);
    }
}

const YNode* MapView::find(std::string_view key) const {
    for (size_t i = 0; i < node_.children.size(); i += 2)
        if (checker_.node(node_.children[i]).text == key)
            return &checker_.node(node_.children[i + 1]);
    return nullptr;
}

const YNode* MapView::find_key(std::string_view key) const {
    for (size_t i = 0; i < node_.children.size(); i += 2)
        if (checker_.node(node_.children[i]).text == key) return &checker_.node(node_.children[i]);
    return nullptr;
}

const YNode& MapView::require(std::string_view key, std::string_view expectation) const {
    if (const YNode* v = find(key)) return *v;
    checker_.expected(node_, path_of(key), expectation,
                      "nothing: the key " + std::string(key) + " is missing");
}

// ---- Key files ------------------------------------------------------------------------------

class FileDescriptor {
public:
    explicit FileDescriptor(int fd) : fd_(fd) {}
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    ~FileDescriptor() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const { return fd_; }

private:
    int fd_;
};

std::string errno_text(int err) {
    return std::error_code(err, std::generic_category()).message();
}

// Opens a file that is to be read whole. O_NONBLOCK and the S_ISREG check keep
// a path such as /dev/stdin or a FIFO from blocking the loader.
int open_regular(const std::string& path, struct stat& st, std::string& why_not) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        why_not = errno_text(errno);
        return -1;
    }
    if (::fstat(fd, &st) != 0) {
        why_not = errno_text(errno);
        ::close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        why_not = S_ISDIR(st.st_mode) ? "a directory" : "not a regular file";
        ::close(fd);
        return -1;
    }
    return fd;
}

// Reads up to `limit` bytes; false with a reason on an error.
bool read_all(int fd, char* buf, size_t limit, size_t& got, std::string& why_not) {
    got = 0;
    while (got < limit) {
        const ssize_t r = ::read(fd, buf + got, limit - got);
        if (r < 0) {
            if (errno == EINTR) continue;
            why_not = errno_text(errno);
            return false;
        }
        if (r == 0) break;
        got += static_cast<size_t>(r);
    }
    return true;
}

std::string mode_text(mode_t mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
    return buf;
}

Key Checker::key_from_file(const YNode& n, const std::string& path, std::string_view what,
                           std::string& resolved) const {
    resolved = file_path(n, path);
    const std::string expectation = "a readable file holding the base64 " + std::string(what);
    struct stat st {};
    std::string why_not;
    const FileDescriptor fd(open_regular(resolved, st, why_not));
    if (fd.get() < 0) expected(n, path, expectation, shown(resolved) + ": " + why_not);
    char buf[kMaxKeyFileBytes + 1];
    size_t got = 0;
    if (!read_all(fd.get(), buf, sizeof buf, got, why_not))
        expected(n, path, expectation, shown(resolved) + ": " + why_not);
    std::string_view content(buf, got);
    // `wg genkey > file` ends the key with a newline; an editor may add "\r\n".
    if (content.ends_with('\n')) content.remove_suffix(1);
    if (content.ends_with('\r')) content.remove_suffix(1);
    const auto k = got > kMaxKeyFileBytes ? std::nullopt : key_from_base64(content);
    const std::string problem = got > kMaxKeyFileBytes
                                    ? "more than " + std::to_string(kMaxKeyFileBytes) + " bytes"
                                    : key_problem(content);
    secure_wipe(buf, sizeof buf);
    if (!k)
        expected(n, path,
                 "a file holding one base64 " + std::string(what) +
                     " (44 characters and an optional newline)",
                 shown(resolved) + " with " + problem);
    if (st.st_mode & S_IRWXO)
        warn(n, path,
             shown(resolved) + " is accessible by other users (mode " + mode_text(st.st_mode) +
                 "); chmod 600 it");
    return *k;
}

// ---- Sections -------------------------------------------------------------------------------

bool valid_interface_name(std::string_view name) {
    if (name.empty() || name.size() > 15 || name == "." || name == "..") return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return is_alpha(c) || is_digit(c) || c == '_' || c == '=' || c == '+' || c == '.' ||
               c == '-';
    });
}

InterfaceConfig Checker::interface_section(const YNode& n, const std::string& path) const {
    const MapView map(*this, n, path, kInterfaceKeys,
                      "the interface section (a map with name and private_key)");
    InterfaceConfig out;

    const std::string name_expectation =
        "an interface name of 1 to 15 characters from A-Z a-z 0-9 _ = + . -";
    const YNode& name = map.require("name", name_expectation);
    const std::string& name_text = text(name, map.path_of("name"), name_expectation);
    if (!valid_interface_name(name_text))
        expected(name, map.path_of("name"), name_expectation, shown(name_text));
    out.name = name_text;

    const YNode* inline_key = map.find("private_key");
    const YNode* key_file = map.find("private_key_file");
    if (inline_key && key_file)
        expected(*map.find_key("private_key_file"), map.path_of("private_key_file"),
                 "either private_key or private_key_file",
                 "both (private_key is on line " +
                     std::to_string(map.find_key("private_key")->line) + ")");
    if (inline_key) {
        out.private_key = key(*inline_key, map.path_of("private_key"), "private key");
    } else if (key_file) {
        out.private_key = key_from_file(*key_file, map.path_of("private_key_file"), "private key",
                                        out.private_key_file);
    } else {
        expected(n, map.path_of("private_key"),
                 "a base64 private key in private_key, or its file in private_key_file", "neither");
    }
    const YNode& key_node = inline_key ? *inline_key : *key_file;
    const std::string key_path = map.path_of(inline_key ? "private_key" : "private_key_file");
    if (std::all_of(out.private_key.begin(), out.private_key.end(), [](uint8_t b) { return !b; }))
        expected(key_node, key_path, "a private key (wg genkey makes one)", "the all-zero key");
    out.public_key = crypto::public_key_of(out.private_key);

    if (const YNode* v = map.find("listen_port"))
        out.listen_port = static_cast<uint16_t>(integer(*v, map.path_of("listen_port"), 1, 65535));
    if (const YNode* v = map.find("addresses"))
        out.addresses = address_list(*v, map.path_of("addresses"));
    if (const YNode* v = map.find("mtu"))
        out.mtu = static_cast<uint16_t>(
            integer(*v, map.path_of("mtu"), config_defaults::kMinMtu, config_defaults::kMaxMtu));
    return out;
}

std::optional<DeviceKind> device_kind(std::string_view d) {
    // PCI: [domain:]bus:device.function, e.g. 0000:03:00.0 or 03:00.0.
    const auto is_pci = [](std::string_view s) {
        const size_t colon = s.find(':');
        if (colon != std::string_view::npos && s.find(':', colon + 1) != std::string_view::npos) {
            if (colon < 4 || colon > 8) return false;
            for (size_t i = 0; i < colon; ++i)
                if (!is_hex(s[i])) return false;
            s.remove_prefix(colon + 1);
        }
        if (s.size() != 7 || s[2] != ':' || s[5] != '.') return false;
        if (!is_hex(s[0]) || !is_hex(s[1]) || !is_hex(s[3]) || !is_hex(s[4])) return false;
        if (s[3] > '1') return false;  // device numbers are 5 bits: 00..1f
        return s[6] >= '0' && s[6] <= '7';
    };
    if (is_pci(d)) return DeviceKind::pci;
    // vdev: net_<driver><n>[,key=value...], e.g. net_af_packet0,iface=veth0.
    if (d.starts_with("net_")) {
        const size_t comma = d.find(',');
        const std::string_view name = d.substr(0, comma);
        if (name.size() <= 4 || !std::all_of(name.begin(), name.end(), [](char c) {
                return is_alpha(c) || is_digit(c) || c == '_';
            }))
            return std::nullopt;
        std::string_view args = comma == std::string_view::npos ? "" : d.substr(comma + 1);
        while (comma != std::string_view::npos) {
            const size_t next = args.find(',');
            const std::string_view arg = args.substr(0, next);
            const size_t eq = arg.find('=');
            if (eq == 0 || eq == std::string_view::npos || eq + 1 == arg.size())
                return std::nullopt;
            for (char c : arg)
                if (static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) >= 0x7f)
                    return std::nullopt;
            if (next == std::string_view::npos) break;
            args.remove_prefix(next + 1);
        }
        return DeviceKind::vdev;
    }
    if (valid_interface_name(d)) return DeviceKind::kernel_interface;
    return std::nullopt;
}

PortConfig Checker::port(const YNode& n, const std::string& path) const {
    const MapView map(*this, n, path, kPortKeys, "a port (a map with a device)");
    PortConfig out;
    const std::string device_expectation =
        "a PCI address (0000:03:00.0), a DPDK vdev (net_af_packet0,iface=veth0) or a kernel "
        "interface name (eth1)";
    const YNode& device = map.require("device", device_expectation);
    out.device = text(device, map.path_of("device"), device_expectation);
    const auto kind = device_kind(out.device);
    if (!kind) expected(device, map.path_of("device"), device_expectation, shown(out.device));
    out.device_kind = *kind;

    const auto ring = [&](const char* key, uint32_t& field) {
        const YNode* v = map.find(key);
        if (!v) return;
        const uint64_t size = integer(*v, map.path_of(key), config_defaults::kMinRingSize,
                                      config_defaults::kMaxRingSize, " and a power of two");
        if (size & (size - 1))
            expected(*v, map.path_of(key),
                     "a power of two " +
                         range_text(config_defaults::kMinRingSize, config_defaults::kMaxRingSize),
                     std::to_string(size));
        field = static_cast<uint32_t>(size);
    };
    ring("rx_ring_size", out.rx_ring_size);
    ring("tx_ring_size", out.tx_ring_size);
    if (const YNode* v = map.find("mempool_size"))
        out.mempool_size = static_cast<uint32_t>(integer(*v, map.path_of("mempool_size"),
                                                         config_defaults::kMinMempoolSize,
                                                         config_defaults::kMaxMempoolSize));
    if (const YNode* v = map.find("addresses"))
        out.addresses = address_list(*v, map.path_of("addresses"));
    if (const YNode* v = map.find("gateway")) {
        const std::string expectation = "an IP address on one of this port's subnets";
        const auto gw = parse_ip_address(text(*v, map.path_of("gateway"), expectation));
        if (!gw) expected(*v, map.path_of("gateway"), expectation, shown(v->text));
        const bool on_link = std::any_of(out.addresses.begin(), out.addresses.end(), [&](Cidr c) {
            Cidr g{gw->family, gw->addr, c.length};
            return c.family == gw->family && g.masked() == c.masked();
        });
        if (!on_link)
            expected(*v, map.path_of("gateway"), expectation,
                     gw->to_string() + ", outside every subnet in " + map.path_of("addresses"));
        out.gateway = gw;
    }
    return out;
}

DataplaneConfig Checker::dataplane_section(const YNode& n, const std::string& path) const {
    const MapView map(*this, n, path, kDataplaneKeys, "the dataplane section (a map)");
    DataplaneConfig out;
    if (const YNode* v = map.find("driver"))
        out.driver = choice(*v, map.path_of("driver"), kDrivers);
    if (const YNode* v = map.find("lcores")) {
        const std::string p = map.path_of("lcores");
        const std::string expectation = "a list of CPU ids such as [2, 3]";
        if (v->kind == YNode::Kind::scalar && !v->quoted && !v->text.empty() &&
            std::all_of(v->text.begin(), v->text.end(), is_digit))
            expected(*v, p, expectation, v->text + " (lcores lists CPU ids, not a count)");
        std::map<uint64_t, size_t> seen;
        for_each(*v, p, expectation, [&](const YNode& item, const std::string& item_path) {
            const uint64_t id = integer(item, item_path, 0, config_defaults::kMaxLcoreId);
            if (const auto [it, inserted] = seen.emplace(id, out.lcores.size()); !inserted)
                expected(item, item_path, "each CPU id once",
                         std::to_string(id) + " again (also " + p + "[" +
                             std::to_string(it->second) + "])");
            if (out.lcores.size() == config_defaults::kMaxLcores)
                expected(item, item_path,
                         "at most " + std::to_string(config_defaults::kMaxLcores) + " lcores",
                         "more");
            out.lcores.push_back(static_cast<uint32_t>(id));
        });
    }
    if (const YNode* v = map.find("burst"))
        out.burst =
            static_cast<uint32_t>(integer(*v, map.path_of("burst"), 1, config_defaults::kMaxBurst));
    if (const YNode* v = map.find("mode")) {
        out.mode = choice(*v, map.path_of("mode"), kModes);
        // An RX lcore and at least one crypto worker; the TX stage may share
        // the RX lcore.
        if (out.mode == DataplaneMode::pipeline && out.lcores.size() == 1)
            expected(*v, map.path_of("mode"),
                     "run-to-completion with a single lcore (pipeline needs at least 2)",
                     "pipeline");
    }
    check_ports(map, out);
    return out;
}

void Checker::check_ports(const MapView& dataplane, DataplaneConfig& dp) const {
    const YNode* ports_node = dataplane.find("ports");
    const std::string ports_path = dataplane.path_of("ports");
    const YNode* wan_node = nullptr;
    const YNode* lan_node = nullptr;
    if (ports_node) {
        const MapView ports(*this, *ports_node, ports_path, kPortsKeys,
                            "the ports (a map with wan and lan)");
        wan_node = ports.find("wan");
        lan_node = ports.find("lan");
        if (wan_node) dp.wan = port(*wan_node, ports.path_of("wan"));
        if (lan_node) dp.lan = port(*lan_node, ports.path_of("lan"));
    }
    const YNode& driver_node =
        dataplane.find("driver") ? *dataplane.find("driver") : dataplane.node();
    const std::string driver_path = dataplane.path_of("driver");
    const std::string driver_name(to_string(dp.driver));

    // Which ports each driver needs, and which devices it can drive.
    const bool need_wan = dp.driver == Driver::dpdk || dp.driver == Driver::af_xdp;
    const bool need_lan = dp.driver == Driver::dpdk;
    if (need_wan && !dp.wan)
        expected(ports_node ? *ports_node : driver_node, ports_path + ".wan",
                 "a wan port for driver " + driver_name, "nothing: the key wan is missing");
    if (need_lan && !dp.lan)
        expected(ports_node ? *ports_node : driver_node, ports_path + ".lan",
                 "a lan port for driver " + driver_name, "nothing: the key lan is missing");

    const auto check = [&](const std::optional<PortConfig>& p, const YNode* node,
                           const std::string& path) {
        if (!p) return;
        const MapView port_map(*this, *node, path, kPortKeys, "a port");
        const YNode& device = *port_map.find("device");
        const bool l2 = p->device_kind != DeviceKind::kernel_interface;
        if (dp.driver == Driver::dpdk && !l2)
            expected(device, port_map.path_of("device"),
                     "a PCI address or a DPDK vdev for driver dpdk",
                     "the kernel interface " + shown(p->device));
        if ((dp.driver == Driver::af_xdp || dp.driver == Driver::kernel) && l2)
            expected(device, port_map.path_of("device"),
                     "a kernel interface name for driver " + driver_name,
                     "the " + std::string(to_string(p->device_kind)) + " " + shown(p->device));
        // sluice owns the whole link on a DPDK port: it answers ARP/ND for
        // these addresses and sources the tunnel's UDP from them.
        if (l2 && p->addresses.empty())
            expected(*node, port_map.path_of("addresses"),
                     "the port's own addresses (a DPDK port has no kernel addresses)",
                     "nothing: the key addresses is missing");
        // The pool must at least fill every receive ring: one queue per lcore
        // in run-to-completion, one RX queue in pipeline mode.
        const uint64_t queues =
            dp.mode == DataplaneMode::pipeline ? 1 : std::max<size_t>(dp.lcores.size(), 1);
        const uint64_t needed = uint64_t{p->rx_ring_size} * queues + dp.burst;
        if (p->mempool_size < needed) {
            const YNode* m = port_map.find("mempool_size");
            expected(
                m ? *m : *node, port_map.path_of("mempool_size"),
                "at least rx_ring_size x queues + burst = " + std::to_string(needed) + " mbufs",
                std::to_string(p->mempool_size));
        }
    };
    check(dp.wan, wan_node, ports_path + ".wan");
    check(dp.lan, lan_node, ports_path + ".lan");
}

bool valid_peer_name(std::string_view name) {
    if (name.empty() || name.size() > 64 || name.front() == ' ' || name.back() == ' ') return false;
    return std::all_of(name.begin(), name.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

PeerConfig Checker::peer(const YNode& n, const std::string& path) const {
    const MapView map(*this, n, path, kPeerKeys, "a peer (a map with a public_key)");
    PeerConfig out;
    if (const YNode* v = map.find("name")) {
        const std::string expectation = "a peer name of 1 to 64 printable characters";
        out.name = text(*v, map.path_of("name"), expectation);
        if (!valid_peer_name(out.name))
            expected(*v, map.path_of("name"), expectation, shown(out.name));
    }
    const YNode& pub =
        map.require("public_key", "a base64 public key (44 characters ending in '=')");
    out.public_key = key(pub, map.path_of("public_key"), "public key");
    if (std::all_of(out.public_key.begin(), out.public_key.end(), [](uint8_t b) { return !b; }))
        expected(pub, map.path_of("public_key"), "a peer's public key", "the all-zero key");

    const YNode* psk = map.find("preshared_key");
    const YNode* psk_file = map.find("preshared_key_file");
    if (psk && psk_file)
        expected(*map.find_key("preshared_key_file"), map.path_of("preshared_key_file"),
                 "either preshared_key or preshared_key_file",
                 "both (preshared_key is on line " +
                     std::to_string(map.find_key("preshared_key")->line) + ")");
    if (psk) out.preshared_key = key(*psk, map.path_of("preshared_key"), "preshared key");
    if (psk_file)
        out.preshared_key = key_from_file(*psk_file, map.path_of("preshared_key_file"),
                                          "preshared key", out.preshared_key_file);

    if (const YNode* v = map.find("endpoint")) {
        const std::string p = map.path_of("endpoint");
        const std::string expectation =
            "an endpoint such as 192.0.2.1:51820, \"[2001:db8::1]:51820\" or vpn.example.com:51820";
        // An unquoted [2001:db8::1] reads as a YAML list.
        if (v->kind == YNode::Kind::sequence)
            expected(*v, p, expectation, "a list (put IPv6 endpoints in quotes)");
        const std::string& t = text(*v, p, expectation);
        std::string why;
        const auto e = parse_endpoint(t, &why);
        if (!e) expected(*v, p, expectation, shown(t) + " (" + why + ")");
        out.endpoint = e;
    }
    if (const YNode* v = map.find("allowed_ips"))
        for_each(*v, map.path_of("allowed_ips"), "a list of IP prefixes such as [10.0.0.0/24]",
                 [&](const YNode& item, const std::string& item_path) {
                     out.allowed_ips.push_back(cidr(item, item_path, true));
                 });
    if (const YNode* v = map.find("persistent_keepalive"))
        out.persistent_keepalive = static_cast<uint16_t>(
            integer(*v, map.path_of("persistent_keepalive"), 0, 65535, " seconds (0 = off)"));
    return out;
}

std::vector<PeerConfig> Checker::peers_section(const YNode& n, const std::string& path,
                                               const InterfaceConfig& interface) const {
    std::vector<PeerConfig> peers;
    // Where each key, name and prefix was first seen, for duplicate messages.
    std::map<Key, size_t> keys;
    std::map<std::string, size_t> names;
    std::map<Cidr, std::string> prefixes;
    for_each(
        n, path, "a list of peers (each a map starting with '- ')",
        [&](const YNode& item, const std::string& item_path) {
            if (peers.size() == wire::kMaxPeers)
                expected(item, item_path, "at most " + std::to_string(wire::kMaxPeers) + " peers",
                         "more");
            PeerConfig p = peer(item, item_path);
            const MapView map(*this, item, item_path, kPeerKeys, "a peer");
            const YNode& pub = *map.find("public_key");
            if (p.public_key == interface.public_key)
                expected(pub, map.path_of("public_key"), "another host's public key",
                         "this interface's own public key");
            if (const auto [it, inserted] = keys.emplace(p.public_key, peers.size()); !inserted)
                expected(
                    pub, map.path_of("public_key"), "each peer's public key once",
                    "the public key of " + path + "[" + std::to_string(it->second) + "] again");
            if (!p.name.empty()) {
                if (const auto [it, inserted] = names.emplace(p.name, peers.size()); !inserted)
                    expected(*map.find("name"), map.path_of("name"), "a unique peer name",
                             shown(p.name) + ", already the name of " + path + "[" +
                                 std::to_string(it->second) + "]");
            }
            // A prefix routes to exactly one peer; the same prefix twice is
            // a mistake that WireGuard would resolve silently (last wins).
            const YNode* ips = map.find("allowed_ips");
            for (size_t i = 0; i < p.allowed_ips.size(); ++i) {
                const std::string ip_path =
                    map.path_of("allowed_ips") + "[" + std::to_string(i) + "]";
                const auto [it, inserted] = prefixes.emplace(p.allowed_ips[i], ip_path);
                if (!inserted)
                    expected(node(ips->children[i]), ip_path,
                             "each allowed IP prefix on one peer only",
                             p.allowed_ips[i].to_string() + ", already at " + it->second);
            }
            if (p.allowed_ips.empty())
                warn(item, item_path,
                     "no allowed_ips: this peer can neither send nor receive traffic");
            peers.push_back(std::move(p));
        });
    return peers;
}

ControlConfig Checker::control_section(const YNode* n, const std::string& path,
                                       const std::string& name) const {
    ControlConfig out;
    out.uapi_socket = std::string(config_defaults::kUapiSocketDir) + name + ".sock";
    out.ctl_socket = std::string(config_defaults::kCtlSocketDir) + name + ".ctl";
    if (!n) return out;
    const MapView map(*this, *n, path, kControlKeys, "the control section (a map)");
    if (const YNode* v = map.find("uapi_socket"))
        out.uapi_socket = socket_path(*v, map.path_of("uapi_socket"));
    if (const YNode* v = map.find("ctl_socket")) {
        out.ctl_socket = socket_path(*v, map.path_of("ctl_socket"));
        if (out.ctl_socket == out.uapi_socket)
            expected(*v, map.path_of("ctl_socket"), "a path other than uapi_socket",
                     shown(out.ctl_socket));
    }
    return out;
}

Config Checker::check(const YNode& root) {
    const MapView top(*this, root, "", kTopKeys,
                      "a map with the sections interface, dataplane, peers and control");
    Config out;
    out.file = file_;
    out.interface = interface_section(
        top.require("interface", "the interface section (a map with name and private_key)"),
        "interface");
    if (const YNode* v = top.find("dataplane")) out.dataplane = dataplane_section(*v, "dataplane");
    if (const YNode* v = top.find("peers")) out.peers = peers_section(*v, "peers", out.interface);
    out.control = control_section(top.find("control"), "control", out.interface.name);
    return out;
}

// ---- Entry points ---------------------------------------------------------------------------

// Refuses control characters up front: YAML forbids most of them anyway, and
// this way every later message stays printable and points at the right byte.
//
// Also bounds what yaml-cpp's scanner can be made to hold. While a "[" or
// "{" might still turn out to start a key ("[a, b]: c"), the scanner queues
// every token after it, about 120 bytes each, and with one-byte tokens
// ("[[[[...", "[[],[],...") 15 MiB of text took 3.6 GB. So the text may nest
// flow collections at most kMaxFlowDepth deep and hold at most
// kMaxFlowTokens flow indicators ([ ] { } and, inside them, , and :), which
// caps the queue near 250 MB. A large hub in JSON form (some 12 indicators per
// peer) stays far below. The count is approximate: it skips quoted text and
// comments and counts brackets only where a token can start; the depth limit
// is far above the schema's, so ordinary nesting errors still come from the
// tree builder with their key path.
void check_text(std::string_view text, const std::string& file) {
    if (text.size() > kMaxFileBytes)
        throw ConfigError(file, 1, 1, "(file)",
                          "expected at most " + std::to_string(kMaxFileBytes) + " bytes, found " +
                              std::to_string(text.size()));
    enum class Lex { plain, double_quoted, single_quoted, comment };
    Lex lex = Lex::plain;
    bool escaped = false;        // double-quoted: the previous character was a backslash
    bool doubled_quote = false;  // single-quoted: '' stands for one quote
    int flow_depth = 0;
    size_t flow_tokens = 0;
    // ':' is an indicator when a space, a line end or a flow indicator
    // follows, or right after a quoted key ({"a":1}); not inside fd00::1.
    const auto value_indicator = [&text](size_t i) {
        const char next = i + 1 < text.size() ? text[i + 1] : '\n';
        const char before = i > 0 ? text[i - 1] : '\n';
        return std::strchr(" \t\r\n,[]{}", next) != nullptr || before == '"' || before == '\'';
    };
    char prev = '\n';
    int line = 1, column = 1;
    for (size_t i = 0; i < text.size(); ++i) {
        const char ch = text[i];
        const auto c = static_cast<unsigned char>(ch);
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "0x%02x", c);
            throw ConfigError(file, line, column, "(file)",
                              std::string("expected UTF-8 text, found the control byte ") + hex);
        }
        const bool token_start = std::strchr(" \t\r\n[{,:-?", prev) != nullptr;
        switch (lex) {
            case Lex::comment:
                if (ch == '\n') lex = Lex::plain;
                break;
            case Lex::double_quoted:
                if (escaped)
                    escaped = false;
                else if (ch == '\\')
                    escaped = true;
                else if (ch == '"')
                    lex = Lex::plain;
                break;
            case Lex::single_quoted:
                if (doubled_quote)
                    doubled_quote = false;
                else if (ch == '\'' && i + 1 < text.size() && text[i + 1] == '\'')
                    doubled_quote = true;
                else if (ch == '\'')
                    lex = Lex::plain;
                break;
            case Lex::plain: {
                bool indicator = false;
                if (ch == '#' && (prev == ' ' || prev == '\t' || prev == '\n' || prev == '\r')) {
                    lex = Lex::comment;
                } else if (ch == '"' && token_start) {
                    lex = Lex::double_quoted;
                } else if (ch == '\'' && token_start) {
                    lex = Lex::single_quoted;
                } else if ((ch == '[' || ch == '{') && token_start) {
                    indicator = true;
                    if (++flow_depth > kMaxFlowDepth)
                        throw ConfigError(file, line, column, "(yaml)",
                                          "expected at most " + std::to_string(kMaxFlowDepth) +
                                              " levels of [ ] and { } nesting, found deeper");
                } else if ((ch == ']' || ch == '}') && flow_depth > 0) {
                    indicator = true;
                    --flow_depth;
                } else if (flow_depth > 0 && (ch == ',' || (ch == ':' && value_indicator(i)))) {
                    indicator = true;
                }
                if (indicator && ++flow_tokens > kMaxFlowTokens)
                    throw ConfigError(file, line, column, "(yaml)",
                                      "expected at most " + std::to_string(kMaxFlowTokens) +
                                          " flow indicators ([ ] { } , :), found more");
                break;
            }
        }
        prev = ch;
        if (c == '\n') {
            ++line;
            column = 1;
        } else if ((c & 0xc0) != 0x80) {  // count characters, not UTF-8 continuation bytes
            ++column;
        }
    }
}

Config parse(std::string_view text, const std::string& file) {
    check_text(text, file);
    Tree tree;
    TreeBuilder builder(tree, file);
    ViewBuf buf(text);
    std::istream in(&buf);
    try {
        YAML::Parser parser(in);
        if (!parser.HandleNextDocument(builder) || builder.documents() == 0)
            throw ConfigError(file, 1, 1, "(document)",
                              "expected a map with an interface section, found an empty file");
        if (parser.HandleNextDocument(builder))
            throw ConfigError(file, builder.last_document_line(), 1, "(document)",
                              "expected one YAML document, found a second one");
    } catch (const YAML::Exception& e) {
        const int line = std::max(e.mark.line + 1, 1);
        const int column = std::max(e.mark.column + 1, 1);
        std::string found = "a syntax error (" + e.msg + ")";
        // "endpoint: [2001:db8::1]:51820" starts a flow list in YAML.
        const std::string_view source_line = line_of(text, line);
        const size_t open = source_line.find('[');
        if (open != std::string_view::npos &&
            source_line.find("]:", open) != std::string_view::npos)
            found += "; put IPv6 endpoints in quotes: \"[2001:db8::1]:51820\"";
        // yaml-cpp reports a tab in the indentation as some other error.
        const size_t indent_end = source_line.find_first_not_of(" \t");
        if (source_line.substr(0, indent_end).find('\t') != std::string_view::npos)
            found += "; indent with spaces, not tabs";
        throw ConfigError(file, line, column, "(yaml)", "expected valid YAML, found " + found);
    }
    if (!tree.has_root)
        throw ConfigError(file, 1, 1, "(document)",
                          "expected a map with an interface section, found an empty file");
    std::vector<std::string> warnings;
    const std::filesystem::path base_dir = std::filesystem::path(file).parent_path();
    Checker checker(tree, file, base_dir, warnings);
    Config config = checker.check(tree.nodes[tree.root]);
    config.warnings = std::move(warnings);
    return config;
}

bool has_inline_secrets(const Config& c) {
    if (c.interface.private_key_file.empty()) return true;
    return std::any_of(c.peers.begin(), c.peers.end(), [](const PeerConfig& p) {
        return p.preshared_key && p.preshared_key_file.empty();
    });
}

}  // namespace

Config parse_config(std::string_view yaml_text, std::string_view file_name) {
    return parse(yaml_text, std::string(file_name));
}

Config load_config_file(const std::string& path) {
    const std::string expectation = "expected a readable configuration file";
    struct stat st {};
    std::string why_not;
    const FileDescriptor fd(open_regular(path, st, why_not));
    if (fd.get() < 0) throw ConfigError(path, 1, 1, "(file)", expectation + ", found " + why_not);
    if (static_cast<uint64_t>(st.st_size) > kMaxFileBytes)
        throw ConfigError(path, 1, 1, "(file)",
                          "expected at most " + std::to_string(kMaxFileBytes) + " bytes, found " +
                              std::to_string(st.st_size));
    // One byte more than the limit, so that a file that grew since fstat is
    // still caught by the size check in parse().
    std::string text(kMaxFileBytes + 1, '\0');
    size_t got = 0;
    if (!read_all(fd.get(), text.data(), text.size(), got, why_not)) {
        wipe_string(text);
        throw ConfigError(path, 1, 1, "(file)", expectation + ", found " + why_not);
    }
    text.resize(got);
    struct Wipe {
        std::string& s;
        ~Wipe() { wipe_string(s); }
    } wipe{text};
    Config config = parse(text, path);
    if ((st.st_mode & S_IRWXO) && has_inline_secrets(config))
        config.warnings.push_back(format_error(
            path, 1, 1, "(file)",
            "warning: the file holds keys inline and is accessible by other users (mode " +
                mode_text(st.st_mode) + "); chmod 600 it or use private_key_file"));
    return config;
}

// ---- Dump -------------------------------------------------------------------------------------

namespace {

// A YAML double-quoted scalar.
std::string yaml_quoted(std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "\"";
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c < 0x20 || c == 0x7f) {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 0xf];
        } else {
            out += ch;
        }
    }
    return out + "\"";
}

template <typename T, typename F>
std::string flow_list(const std::vector<T>& items, F&& render) {
    std::string out = "[";
    for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + render(items[i]);
    return out + "]";
}

std::string cidr_list(const std::vector<Cidr>& cidrs) {
    return flow_list(cidrs, [](const Cidr& c) { return c.to_string(); });
}

void dump_port(std::string& out, const char* role, const PortConfig& p) {
    out += "    " + std::string(role) + ":\n";
    out += "      device: " + yaml_quoted(p.device) + "  # " +
           std::string(to_string(p.device_kind)) + "\n";
    out += "      rx_ring_size: " + std::to_string(p.rx_ring_size) + "\n";
    out += "      tx_ring_size: " + std::to_string(p.tx_ring_size) + "\n";
    out += "      mempool_size: " + std::to_string(p.mempool_size) + "\n";
    out += "      addresses: " + cidr_list(p.addresses) + "\n";
    if (p.gateway) out += "      gateway: " + p.gateway->to_string() + "\n";
}

}  // namespace

std::string dump_config(const Config& c) {
    constexpr const char* kRedacted = "(redacted)";
    std::string out = "# " + c.file + " as sluice reads it; private and preshared keys redacted\n";
    const InterfaceConfig& i = c.interface;
    out += "interface:\n";
    out += "  name: " + yaml_quoted(i.name) + "\n";
    if (i.private_key_file.empty())
        out += std::string("  private_key: ") + kRedacted + "\n";
    else
        out += "  private_key_file: " + yaml_quoted(i.private_key_file) + "\n";
    out += "  # public_key: " + key_to_base64(i.public_key) + "\n";
    out += "  listen_port: " + std::to_string(i.listen_port) + "\n";
    out += "  addresses: " + cidr_list(i.addresses) + "\n";
    out += "  mtu: " + std::to_string(i.mtu) + "\n";

    const DataplaneConfig& d = c.dataplane;
    out += "dataplane:\n";
    out += "  driver: " + std::string(to_string(d.driver)) + "\n";
    out +=
        "  lcores: " + flow_list(d.lcores, [](uint32_t id) { return std::to_string(id); }) + "\n";
    out += "  burst: " + std::to_string(d.burst) + "\n";
    out += "  mode: " + std::string(to_string(d.mode)) + "\n";
    if (d.wan || d.lan) {
        out += "  ports:\n";
        if (d.wan) dump_port(out, "wan", *d.wan);
        if (d.lan) dump_port(out, "lan", *d.lan);
    }

    out += c.peers.empty() ? "peers: []\n" : "peers:\n";
    for (const PeerConfig& p : c.peers) {
        out += "  - public_key: " + yaml_quoted(key_to_base64(p.public_key)) + "\n";
        if (!p.name.empty()) out += "    name: " + yaml_quoted(p.name) + "\n";
        if (!p.preshared_key_file.empty())
            out += "    preshared_key_file: " + yaml_quoted(p.preshared_key_file) + "\n";
        else if (p.preshared_key)
            out += std::string("    preshared_key: ") + kRedacted + "\n";
        if (p.endpoint) out += "    endpoint: " + yaml_quoted(p.endpoint->to_string()) + "\n";
        out += "    allowed_ips: " + cidr_list(p.allowed_ips) + "\n";
        out += "    persistent_keepalive: " + std::to_string(p.persistent_keepalive) + "\n";
    }

    out += "control:\n";
    out += "  uapi_socket: " + yaml_quoted(c.control.uapi_socket) + "\n";
    out += "  ctl_socket: " + yaml_quoted(c.control.ctl_socket) + "\n";
    return out;
}

}  // namespace sluice
