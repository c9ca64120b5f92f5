// The configuration loader's YAML layer: text → Tree, and walking the Tree
// with messages that point into the file. See config_yaml.hpp.
//
// Stage 1 (check_text) looks at bytes only; stage 2 (TreeBuilder) receives
// yaml-cpp's events. This is the only file that includes yaml-cpp.
//
// Secrets: the scalar strings of the tree are wiped when it goes away, and
// the text is read in place, never copied. yaml-cpp keeps its own internal
// copies of scanned text, which we cannot reach.
#include "control/config_yaml.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <istream>
#include <map>
#include <streambuf>
#include <unordered_map>
#include <utility>

#include "control/config.hpp"
#include "control/config_files.hpp"

namespace sluice {

ConfigError::ConfigError(std::string file, int line, int column, std::string key,
                         std::string message)
    : std::runtime_error(config_detail::format_error(file, line, column, key, message)),
      file_(std::move(file)),
      line_(line),
      column_(column),
      key_(std::move(key)),
      message_(std::move(message)) {}

namespace config_detail {

// ---- Text for messages ------------------------------------------------------------------

std::string format_error(const std::string& file, int line, int column, const std::string& key,
                         const std::string& message) {
    return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + key + ": " +
           message;
}

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

std::string path_part(std::string_view key) {
    const bool plain =
        !key.empty() && key.size() <= 60 &&
        std::all_of(key.begin(), key.end(), [](char c) { return c > ' ' && c < 0x7f; });
    return plain ? std::string(key) : shown(key);
}

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

std::string joined(std::span<const std::string_view> words) {
    std::string out;
    for (std::string_view w : words) {
        if (!out.empty()) out += ", ";
        out += w;
    }
    return out;
}

namespace {

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

}  // namespace

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

// ---- The tree ---------------------------------------------------------------------------

Tree::~Tree() {
    for (YNode& n : nodes) wipe_string(n.text);
}

namespace {

constexpr size_t kMaxNodes = 2'000'000;
constexpr size_t kMaxDepth = 16;              // the schema needs 6
constexpr int kMaxFlowDepth = 64;             // see check_text()
constexpr size_t kMaxFlowTokens = 1'000'000;  // see check_text()

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

}  // namespace

void read_tree(std::string_view text, const std::string& file, Tree& tree) {
    check_text(text, file);
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
}

// ---- Walking the tree -------------------------------------------------------------------

void TreeReader::fail(const YNode& at, const std::string& path, std::string message) const {
    throw ConfigError(file_, at.line, at.column, path.empty() ? "(document)" : path,
                      std::move(message));
}

void TreeReader::expected(const YNode& at, const std::string& path, std::string_view expectation,
                          std::string_view found) const {
    fail(at, path, "expected " + std::string(expectation) + ", found " + std::string(found));
}

void TreeReader::warn(const YNode& at, const std::string& path, const std::string& message) const {
    warnings_.push_back(format_error(file_, at.line, at.column, path, "warning: " + message));
}

const std::string& TreeReader::text(const YNode& n, const std::string& path,
                                    std::string_view expectation) const {
    if (n.kind != YNode::Kind::scalar) expected(n, path, expectation, describe(n));
    return n.text;
}

MapView::MapView(const TreeReader& reader, const YNode& node, std::string path,
                 std::span<const std::string_view> allowed, std::string_view what,
                 std::span<const Section> neighbours)
    : reader_(reader), node_(node), path_(std::move(path)) {
    if (node.kind != YNode::Kind::map) reader.expected(node, path_, what, describe(node));
    for (size_t i = 0; i < node.children.size(); i += 2) {
        const YNode& key = reader.node(node.children[i]);
        if (std::find(allowed.begin(), allowed.end(), key.text) != allowed.end()) continue;
        std::string found = "unknown key " + shown(key.text);
        if (key.text == "<<") {
            found += " (YAML merge keys are not supported)";
        } else if (const auto hint = closest(key.text, allowed); !hint.empty()) {
            found += " (did you mean " + std::string(hint) + "?)";
        } else {
            // A key that belongs to another section: say which.
            for (const Section& s : neighbours) {
                if (s.name == path_) continue;
                if (const auto h = closest(key.text, s.keys); !h.empty()) {
                    found += " (did you mean " + std::string(s.name) + "." + std::string(h) + "?)";
                    break;
                }
            }
        }
        reader.expected(key, path_of(path_part(key.text)), "one of " + joined(allowed), found);
    }
}

const YNode* MapView::find(std::string_view key) const {
    for (size_t i = 0; i < node_.children.size(); i += 2)
        if (reader_.node(node_.children[i]).text == key)
            return &reader_.node(node_.children[i + 1]);
    return nullptr;
}

const YNode* MapView::find_key(std::string_view key) const {
    for (size_t i = 0; i < node_.children.size(); i += 2)
        if (reader_.node(node_.children[i]).text == key) return &reader_.node(node_.children[i]);
    return nullptr;
}

const YNode& MapView::require(std::string_view key, std::string_view expectation) const {
    if (const YNode* v = find(key)) return *v;
    reader_.expected(node_, path_of(key), expectation,
                     "nothing: the key " + std::string(key) + " is missing");
}

}  // namespace config_detail
}  // namespace sluice
