#include "control/key_encoding.hpp"

#include <openssl/evp.h>

namespace sluice {

std::optional<Key> key_from_base64(std::string_view text) {
    // 32 bytes encode to 43 significant characters and one '='.
    if (text.size() != 44 || text[43] != '=' || text[42] == '=') return std::nullopt;
    for (char c : text.substr(0, 43)) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '+' || c == '/';
        if (!ok) return std::nullopt;
    }
    unsigned char out[33];  // EVP_DecodeBlock writes 3 bytes per 4 characters
    if (EVP_DecodeBlock(out, reinterpret_cast<const unsigned char*>(text.data()), 44) != 33)
        return std::nullopt;
    // The 44th character is padding: the last encoded byte is zero and the
    // unused low bits of the 43rd character must be zero (canonical form).
    if (out[32] != 0) return std::nullopt;
    const char last = text[42];
    const int v = last >= 'A' && last <= 'Z'   ? last - 'A'
                  : last >= 'a' && last <= 'z' ? last - 'a' + 26
                  : last >= '0' && last <= '9' ? last - '0' + 52
                  : last == '+'                ? 62
                                               : 63;
    if ((v & 0x3) != 0) return std::nullopt;
    Key key;
    std::copy(out, out + 32, key.begin());
    secure_wipe(out, sizeof out);
    return key;
}

std::string key_to_base64(const Key& key) {
    char out[45];
    EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out), key.data(),
                    static_cast<int>(key.size()));
    return std::string(out, 44);
}

std::optional<Key> key_from_hex(std::string_view text) {
    if (text.size() != 64) return std::nullopt;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    Key key;
    for (size_t i = 0; i < 32; ++i) {
        const int hi = nibble(text[2 * i]), lo = nibble(text[2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        key[i] = static_cast<uint8_t>(hi << 4 | lo);
    }
    return key;
}

std::string key_to_hex(const Key& key) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out(64, '0');
    for (size_t i = 0; i < 32; ++i) {
        out[2 * i] = kDigits[key[i] >> 4];
        out[2 * i + 1] = kDigits[key[i] & 0xf];
    }
    return out;
}

}  // namespace sluice
