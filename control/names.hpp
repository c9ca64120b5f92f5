// The rules for the names an operator gives things, shared by the
// configuration file and sluicectl's protocol so that a name one accepts the
// other accepts too. In sluice_handshake, which both libraries link, so that
// sluice_ctl checks names without pulling in yaml-cpp.
#pragma once

#include <cstddef>
#include <string_view>

namespace sluice {

inline constexpr size_t kMaxInterfaceNameLength = 15;  // IFNAMSIZ - 1
inline constexpr size_t kMaxPeerNameLength = 64;

// A Linux interface name: 1 to 15 characters from A-Z a-z 0-9 _ = + . -,
// neither "." nor "..". Interface names also become socket names.
bool valid_interface_name(std::string_view name) noexcept;
// 1 to 64 printable ASCII characters, no space at either end.
bool valid_peer_name(std::string_view name) noexcept;

}  // namespace sluice
