// The configuration loader's YAML layer, internal to the sluice_config library.
//
// read_tree() is stages 1 and 2 of the loader (see config.cpp): it checks the
// bytes, then lets yaml-cpp's event parser build a Tree of our own that keeps
// a line and column for every key and value. A Tree holds no yaml-cpp types
// and only config_yaml.cpp includes the library, so the schema never meets it.
//
// TreeReader and MapView are how the schema walks the Tree: every problem
// becomes one ConfigError with file, line, column and key path, and a map
// refuses unknown keys with a "did you mean" before any value is looked at.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::config_detail {

inline constexpr size_t kMaxFileBytes = size_t{16} << 20;  // some 80 000 peers

// ---- The tree ---------------------------------------------------------------------------

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
    ~Tree();
};

// Fills `tree` from the text of `file`, which has a root node afterwards, or
// throws the ConfigError for the first problem: size, control bytes, flow
// nesting, YAML syntax, duplicate keys, tags, aliases, depth, no document or a
// second one.
void read_tree(std::string_view text, const std::string& file, Tree& tree);

// ---- Text for messages ------------------------------------------------------------------

// "FILE:LINE:COLUMN: KEY: MESSAGE", the form of errors and warnings.
std::string format_error(const std::string& file, int line, int column, const std::string& key,
                         const std::string& message);
// A value as it may appear in a message: in double quotes, on one line, with
// anything unprintable escaped and long text cut.
std::string shown(std::string_view s);
// A key as it appears in a KEY path: as written when it is short printable
// ASCII without spaces, else shown() (quoted, escaped, cut), so that a key
// holding a newline cannot break the one-line message.
std::string path_part(std::string_view key);
// "nothing", "a list", "a map", or the scalar shown().
std::string describe(const YNode& n);
// "a, b, c".
std::string joined(std::span<const std::string_view> words);
// The candidate a typo most likely meant, or "" when none is close: equal
// after normalising (case, '_' and '-'), or within one edit (two for longer
// words), counting a swap of neighbours as one edit.
std::string_view closest(std::string_view word, std::span<const std::string_view> candidates);

// ---- Walking the tree -------------------------------------------------------------------

// The tree of one file, and where its errors and warnings go.
class TreeReader {
public:
    TreeReader(const Tree& tree, std::string file, std::vector<std::string>& warnings)
        : tree_(tree), file_(std::move(file)), warnings_(warnings) {}

    const YNode& node(uint32_t i) const { return tree_.nodes[i]; }
    const std::string& file() const { return file_; }

    [[noreturn]] void fail(const YNode& at, const std::string& path, std::string message) const;
    [[noreturn]] void expected(const YNode& at, const std::string& path,
                               std::string_view expectation, std::string_view found) const;
    void warn(const YNode& at, const std::string& path, const std::string& message) const;

    // A scalar's text, or "expected <expectation>, found a list" and so on.
    const std::string& text(const YNode& n, const std::string& path,
                            std::string_view expectation) const;

    // Calls visit(item, "path[i]") for each item of a list.
    template <typename F>
    void for_each(const YNode& n, const std::string& path, std::string_view expectation,
                  F&& visit) const {
        if (n.kind != YNode::Kind::sequence) expected(n, path, expectation, describe(n));
        for (size_t i = 0; i < n.children.size(); ++i)
            visit(node(n.children[i]), path + "[" + std::to_string(i) + "]");
    }

private:
    const Tree& tree_;
    std::string file_;
    std::vector<std::string>& warnings_;
};

// A section and its keys, so that a key written in the wrong section gets a
// hint such as "did you mean interface.listen_port?".
struct Section {
    std::string_view name;
    std::span<const std::string_view> keys;
};

// A map in the file, checked against the keys its section allows. Unknown keys
// are refused first, so a typo in a required key reads "unknown key 'nmae'
// (did you mean name?)" rather than "name is missing". An unknown key close to
// none of `allowed` is looked for in `neighbours` (all but the one named like
// this map's path).
class MapView {
public:
    MapView(const TreeReader& reader, const YNode& node, std::string path,
            std::span<const std::string_view> allowed, std::string_view what,
            std::span<const Section> neighbours = {});

    const YNode* find(std::string_view key) const;
    const YNode* find_key(std::string_view key) const;
    const YNode& require(std::string_view key, std::string_view expectation) const;
    std::string path_of(std::string_view key) const {
        return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
    }
    const YNode& node() const { return node_; }
    const std::string& path() const { return path_; }

private:
    const TreeReader& reader_;
    const YNode& node_;
    std::string path_;
};

}  // namespace sluice::config_detail
