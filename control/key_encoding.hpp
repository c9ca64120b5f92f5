// Text forms of 32-byte keys: base64 (config files, wg(8) output) and
// lowercase hex (the WireGuard UAPI).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "dataplane/keypair.hpp"

namespace sluice {

// Exactly 44 characters of standard base64 with one '=' of padding, decoding
// to 32 bytes; anything else is nullopt.
std::optional<Key> key_from_base64(std::string_view text);
std::string key_to_base64(const Key& key);

// Exactly 64 hex digits (either case); anything else is nullopt.
std::optional<Key> key_from_hex(std::string_view text);
std::string key_to_hex(const Key& key);

}  // namespace sluice
