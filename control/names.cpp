// Interface and peer names; see names.hpp.
#include "control/names.hpp"

#include <algorithm>

namespace sluice {

bool valid_interface_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > kMaxInterfaceNameLength || name == "." || name == "..")
        return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               std::string_view("_=+.-").find(c) != std::string_view::npos;
    });
}

bool valid_peer_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > kMaxPeerNameLength || name.front() == ' ' ||
        name.back() == ' ')
        return false;
    return std::all_of(name.begin(), name.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

}  // namespace sluice
