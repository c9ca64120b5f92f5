// AllowedIps: known cases, the prefix parser, and a differential test against
// a naive table (a vector of prefixes searched linearly for the longest
// match, in the spirit of the kernel's horrible_allowedips_lookup).
#include "dataplane/allowed_ips.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace sluice {

// Readable failure messages for EXPECT_EQ on prefixes (found by ADL).
void PrintTo(const IpPrefix& p, std::ostream* os) {
    *os << p.to_string();
}

namespace {

using Family = IpFamily;

IpPrefix P(std::string_view text) {
    const auto p = parse_ip_prefix(text);
    EXPECT_TRUE(p.has_value()) << text;
    return p.value_or(IpPrefix{});
}

std::optional<uint32_t> lookup(const AllowedIps& t, std::string_view addr) {
    const IpPrefix p = P(addr);
    return t.lookup(p.family, p.addr.data());
}

std::vector<std::string> strings(const std::vector<IpPrefix>& v) {
    std::vector<std::string> out;
    for (const IpPrefix& p : v) out.push_back(p.to_string());
    return out;
}

// ---- Parser --------------------------------------------------------------------

TEST(ParseIpPrefix, AcceptsPrefixesAndBareAddresses) {
    struct Case {
        const char* text;
        Family family;
        uint8_t length;
        const char* canonical;
    };
    const Case cases[] = {
        {"10.0.0.0/8", Family::v4, 8, "10.0.0.0/8"},
        {"0.0.0.0/0", Family::v4, 0, "0.0.0.0/0"},
        {"255.255.255.255/32", Family::v4, 32, "255.255.255.255/32"},
        {"1.2.3.4", Family::v4, 32, "1.2.3.4/32"},
        {"10.1.2.3/8", Family::v4, 8, "10.1.2.3/8"},  // host bits kept as written
        {"192.168.1.0/24", Family::v4, 24, "192.168.1.0/24"},
        {"fd00::/64", Family::v6, 64, "fd00::/64"},
        {"::/0", Family::v6, 0, "::/0"},
        {"::", Family::v6, 128, "::/128"},
        {"2001:db8::1", Family::v6, 128, "2001:db8::1/128"},
        {"2001:DB8:0:0::1/127", Family::v6, 127, "2001:db8::1/127"},
        {"fd00:0000:0000:0000::/48", Family::v6, 48, "fd00::/48"},
        {"::ffff:1.2.3.4/96", Family::v6, 96, "::ffff:1.2.3.4/96"},  // v4-mapped stays v6
        {"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128", Family::v6, 128,  // longest form
         "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"},
        {"1.2.3.4/0", Family::v4, 0, "1.2.3.4/0"},
    };
    for (const Case& c : cases) {
        const auto p = parse_ip_prefix(c.text);
        ASSERT_TRUE(p.has_value()) << c.text;
        EXPECT_EQ(p->family, c.family) << c.text;
        EXPECT_EQ(p->length, c.length) << c.text;
        EXPECT_TRUE(p->valid()) << c.text;
        EXPECT_EQ(p->to_string(), c.canonical) << c.text;
        // The canonical text parses back to the same value.
        EXPECT_EQ(parse_ip_prefix(p->to_string()), p) << c.text;
    }
    const auto p = parse_ip_prefix("192.0.2.77/24");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->addr, (std::array<uint8_t, 16>{192, 0, 2, 77}));  // v4 tail bytes stay zero
}

TEST(ParseIpPrefix, RejectsMalformedText) {
    const std::string too_long(100, '1');
    const std::string embedded_nul("10.0.0.0\0/8", 11);
    const char* bad[] = {
        "",
        "/8",
        "10.0.0.0/",
        "10.0.0.0/33",
        "10.0.0.0/99",
        "10.0.0.0/1000",
        "10.0.0.0/4294967304",  // 2^32 + 8: must not wrap to 8
        "fd00::/129",
        "fd00::/256",
        "10.0.0.0/-1",
        "10.0.0.0/+8",
        "10.0.0.0/08",  // leading zero in the length
        "10.0.0.0/00",
        "10.0.0.0/ 8",
        "10.0.0.0 /8",
        " 10.0.0.0/8",
        "10.0.0.0/8 ",
        "10.0.0.0/8/8",
        "10.0.0.0/8x",
        "10.0.0.0/0x8",
        "010.0.0.1",  // inet_pton refuses leading zeros (octal ambiguity)
        "10.0.0.01/32",
        "1.2.3",
        "1.2.3.4.5",
        "256.0.0.0",
        "0x0a.0.0.0",
        "1.2.3.-4",
        "fe80::1%eth0",
        "1::2::3",
        ":::",
        "fd00::/64x",
        "fd00::g",
        "hello",
        "::ffff:1.2.3/96",
    };
    for (const char* text : bad) EXPECT_FALSE(parse_ip_prefix(text).has_value()) << text;
    EXPECT_FALSE(parse_ip_prefix(too_long).has_value());
    EXPECT_FALSE(parse_ip_prefix(embedded_nul).has_value());
    EXPECT_FALSE(parse_ip_prefix(std::string_view("1.2.3.4", 5)).has_value());  // "1.2.3"
}

TEST(IpPrefix, MaskedClearsHostBitsOnly) {
    EXPECT_EQ(P("10.1.2.3/8").masked().to_string(), "10.0.0.0/8");
    EXPECT_EQ(P("10.255.255.255/9").masked().to_string(), "10.128.0.0/9");
    EXPECT_EQ(P("10.1.2.3/0").masked().to_string(), "0.0.0.0/0");
    EXPECT_EQ(P("10.1.2.3/32").masked().to_string(), "10.1.2.3/32");
    EXPECT_EQ(P("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff/65").masked().to_string(),
              "2001:db8:ffff:ffff:8000::/65");
    EXPECT_EQ(P("2001:db8::ffff/127").masked().to_string(), "2001:db8::fffe/127");
    EXPECT_EQ(P("ffff::1/128").masked(), P("ffff::1/128"));
    EXPECT_TRUE(P("10.0.0.0/8").is_masked());
    EXPECT_FALSE(P("10.0.0.1/8").is_masked());
}

TEST(IpPrefix, FactoriesMatchTheParser) {
    const uint8_t a4[4] = {10, 1, 2, 3};
    EXPECT_EQ(IpPrefix::v4(a4, 24), P("10.1.2.3/24"));
    uint8_t a6[16] = {0xfd};
    a6[15] = 1;
    EXPECT_EQ(IpPrefix::v6(a6, 64), P("fd00::1/64"));
    EXPECT_TRUE(IpPrefix::v4(a4, 32).valid());
    EXPECT_FALSE(IpPrefix::v4(a4, 33).valid());
}

TEST(IpPrefix, OrdersByFamilyThenAddressThenLength) {
    EXPECT_LT(P("255.255.255.255/32"), P("::/0"));
    EXPECT_LT(P("10.0.0.0/8"), P("10.0.0.0/9"));
    EXPECT_LT(P("10.0.0.0/24"), P("10.0.0.1/8"));
    EXPECT_LT(P("fd00::/64"), P("fd00::1/8"));
    EXPECT_FALSE(P("10.0.0.0/8") < P("10.0.0.0/8"));
}

TEST(IpPrefix, ValidRejectsBadLengthsAndStrayBytes) {
    IpPrefix p = P("10.0.0.0/8");
    EXPECT_TRUE(p.valid());
    p.length = 33;
    EXPECT_FALSE(p.valid());
    p.length = 8;
    p.addr[4] = 1;  // past the v4 address
    EXPECT_FALSE(p.valid());
    IpPrefix q = P("fd00::/8");
    q.length = 129;
    EXPECT_FALSE(q.valid());
    q.length = 128;
    EXPECT_TRUE(q.valid());
    IpPrefix r = q;
    r.family = static_cast<Family>(5);
    EXPECT_FALSE(r.valid());
}

// ---- Known cases ---------------------------------------------------------------

TEST(AllowedIps, EmptyTableMatchesNothing) {
    AllowedIps t;
    EXPECT_EQ(t.size(), 0u);
    EXPECT_TRUE(t.empty());
    EXPECT_EQ(lookup(t, "10.0.0.1"), std::nullopt);
    EXPECT_EQ(lookup(t, "::"), std::nullopt);
    EXPECT_TRUE(t.prefixes_of(1).empty());
    EXPECT_FALSE(t.remove(P("10.0.0.0/8")));
}

TEST(AllowedIps, LongestPrefixWins) {
    AllowedIps t;
    ASSERT_TRUE(t.insert(P("10.0.0.0/8"), 1));
    ASSERT_TRUE(t.insert(P("10.1.0.0/16"), 2));
    ASSERT_TRUE(t.insert(P("10.1.1.0/24"), 3));
    ASSERT_TRUE(t.insert(P("10.1.1.1/32"), 4));
    ASSERT_TRUE(t.insert(P("10.1.1.128/25"), 5));
    EXPECT_EQ(t.size(), 5u);
    EXPECT_EQ(lookup(t, "10.200.0.1"), 1u);
    EXPECT_EQ(lookup(t, "10.1.200.1"), 2u);
    EXPECT_EQ(lookup(t, "10.1.1.2"), 3u);
    EXPECT_EQ(lookup(t, "10.1.1.0"), 3u);
    EXPECT_EQ(lookup(t, "10.1.1.1"), 4u);
    EXPECT_EQ(lookup(t, "10.1.1.127"), 3u);
    EXPECT_EQ(lookup(t, "10.1.1.128"), 5u);
    EXPECT_EQ(lookup(t, "10.1.1.255"), 5u);
    EXPECT_EQ(lookup(t, "11.0.0.0"), std::nullopt);
    EXPECT_EQ(lookup(t, "9.255.255.255"), std::nullopt);
}

TEST(AllowedIps, InsertionOrderDoesNotMatter) {
    const char* prefixes[] = {"10.0.0.0/8",    "10.1.0.0/16", "10.1.1.0/24", "10.1.1.1/32",
                              "10.1.1.128/25", "0.0.0.0/0",   "10.128.0.0/9"};
    std::vector<int> order(std::size(prefixes));
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
    do {
        AllowedIps t;
        for (int i : order) t.insert(P(prefixes[i]), static_cast<uint32_t>(i));
        ASSERT_EQ(lookup(t, "10.1.1.1"), 3u);
        ASSERT_EQ(lookup(t, "10.1.1.200"), 4u);
        ASSERT_EQ(lookup(t, "10.1.1.2"), 2u);
        ASSERT_EQ(lookup(t, "10.1.2.2"), 1u);
        ASSERT_EQ(lookup(t, "10.2.2.2"), 0u);
        ASSERT_EQ(lookup(t, "10.200.2.2"), 6u);
        ASSERT_EQ(lookup(t, "99.0.0.1"), 5u);
    } while (std::next_permutation(order.begin(), order.end()));
}

TEST(AllowedIps, DefaultRoutesPerFamily) {
    AllowedIps t;
    t.insert(P("0.0.0.0/0"), 7);
    EXPECT_EQ(lookup(t, "0.0.0.0"), 7u);
    EXPECT_EQ(lookup(t, "255.255.255.255"), 7u);
    EXPECT_EQ(lookup(t, "::"), std::nullopt);
    EXPECT_EQ(lookup(t, "::ffff:10.0.0.1"), std::nullopt);
    t.insert(P("::/0"), 8);
    EXPECT_EQ(lookup(t, "::"), 8u);
    EXPECT_EQ(lookup(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 8u);
    EXPECT_EQ(lookup(t, "1.2.3.4"), 7u);
    t.insert(P("1.2.3.0/24"), 9);
    EXPECT_EQ(lookup(t, "1.2.3.4"), 9u);
    EXPECT_EQ(lookup(t, "1.2.4.4"), 7u);
    EXPECT_TRUE(t.remove(P("0.0.0.0/0")));
    EXPECT_EQ(lookup(t, "1.2.4.4"), std::nullopt);
    EXPECT_EQ(lookup(t, "1.2.3.4"), 9u);
    EXPECT_EQ(lookup(t, "::1"), 8u);
}

TEST(AllowedIps, FamiliesAreIndependent) {
    AllowedIps t;
    // The same leading bytes in both families must not leak across.
    t.insert(P("10.0.0.0/8"), 1);
    t.insert(P("a00::/8"), 2);
    t.insert(P("::/96"), 3);
    EXPECT_EQ(lookup(t, "10.1.2.3"), 1u);
    EXPECT_EQ(lookup(t, "a01::1"), 2u);
    EXPECT_EQ(lookup(t, "::10.1.2.3"), 3u);  // v4-compatible form is v6
    EXPECT_EQ(lookup(t, "0.0.0.1"), std::nullopt);
    EXPECT_EQ(t.prefixes_of(3).size(), 1u);
    EXPECT_TRUE(t.remove(P("10.0.0.0/8")));
    EXPECT_EQ(lookup(t, "a01::1"), 2u);
    EXPECT_FALSE(t.remove(P("10.0.0.0/8")));
}

TEST(AllowedIps, HostBitsAreMaskedOnInsertAndRemove) {
    AllowedIps t;
    ASSERT_TRUE(t.insert(P("10.1.2.3/8"), 1));
    EXPECT_EQ(strings(t.prefixes_of(1)), (std::vector<std::string>{"10.0.0.0/8"}));
    EXPECT_EQ(lookup(t, "10.200.0.1"), 1u);
    ASSERT_TRUE(t.insert(P("10.0.0.0/8"), 2));  // the same prefix: re-assigned
    EXPECT_EQ(t.size(), 1u);
    ASSERT_TRUE(t.insert(P("fd00::1234/64"), 3));
    EXPECT_EQ(strings(t.prefixes_of(3)), (std::vector<std::string>{"fd00::/64"}));
    EXPECT_TRUE(t.remove(P("10.9.9.9/8")));
    EXPECT_TRUE(t.remove(P("fd00::ffff/64")));
    EXPECT_TRUE(t.empty());
}

TEST(AllowedIps, InsertingAnExistingPrefixReassignsIt) {
    AllowedIps t;
    t.insert(P("192.168.0.0/16"), 1);
    t.insert(P("192.168.1.0/24"), 1);
    t.insert(P("192.168.0.0/16"), 2);
    EXPECT_EQ(t.size(), 2u);
    EXPECT_EQ(lookup(t, "192.168.2.1"), 2u);
    EXPECT_EQ(lookup(t, "192.168.1.1"), 1u);
    EXPECT_EQ(strings(t.prefixes_of(1)), (std::vector<std::string>{"192.168.1.0/24"}));
    EXPECT_EQ(strings(t.prefixes_of(2)), (std::vector<std::string>{"192.168.0.0/16"}));
}

TEST(AllowedIps, InvalidPrefixIsRefused) {
    AllowedIps t;
    IpPrefix p = P("10.0.0.0/8");
    p.length = 40;
    EXPECT_FALSE(t.insert(p, 1));
    EXPECT_FALSE(t.remove(p));
    p.length = 8;
    p.addr[12] = 9;
    EXPECT_FALSE(t.insert(p, 1));
    EXPECT_TRUE(t.empty());
    EXPECT_EQ(lookup(t, "10.0.0.1"), std::nullopt);
}

TEST(AllowedIps, RemoveOnlyExactPrefixes) {
    AllowedIps t;
    t.insert(P("10.0.0.0/24"), 1);
    t.insert(P("10.0.1.0/24"), 2);  // makes a peer-less branch point at 10.0.0.0/23
    EXPECT_FALSE(t.remove(P("10.0.0.0/23")));
    EXPECT_FALSE(t.remove(P("10.0.0.0/25")));
    EXPECT_FALSE(t.remove(P("10.0.0.0/8")));
    EXPECT_FALSE(t.remove(P("10.0.2.0/24")));
    EXPECT_EQ(t.size(), 2u);
    EXPECT_TRUE(t.remove(P("10.0.0.0/24")));
    EXPECT_FALSE(t.remove(P("10.0.0.0/24")));
    EXPECT_EQ(lookup(t, "10.0.0.1"), std::nullopt);
    EXPECT_EQ(lookup(t, "10.0.1.1"), 2u);
    EXPECT_EQ(t.size(), 1u);
}

TEST(AllowedIps, RemovingAnInnerPrefixKeepsTheOnesBelow) {
    AllowedIps t;
    t.insert(P("10.0.0.0/8"), 1);
    t.insert(P("10.1.0.0/16"), 2);
    t.insert(P("10.2.0.0/16"), 3);  // under a new branch point 10.0.0.0/14
    t.insert(P("10.1.1.0/24"), 4);
    EXPECT_EQ(t.node_count(), 5u);
    ASSERT_TRUE(t.well_formed());
    EXPECT_TRUE(t.remove(P("10.0.0.0/8")));  // one child (the branch): replaced by it
    EXPECT_EQ(t.node_count(), 4u);
    ASSERT_TRUE(t.well_formed());
    EXPECT_EQ(lookup(t, "10.1.0.1"), 2u);
    EXPECT_EQ(lookup(t, "10.2.0.1"), 3u);
    EXPECT_EQ(lookup(t, "10.1.1.1"), 4u);
    EXPECT_EQ(lookup(t, "10.3.0.1"), std::nullopt);
    EXPECT_TRUE(t.remove(P("10.1.0.0/16")));  // one child: replaced by it
    EXPECT_EQ(t.node_count(), 3u);
    ASSERT_TRUE(t.well_formed());
    EXPECT_EQ(lookup(t, "10.1.0.1"), std::nullopt);
    EXPECT_EQ(lookup(t, "10.1.1.1"), 4u);
    EXPECT_TRUE(t.remove(P("10.2.0.0/16")));  // a leaf under a branch: the branch goes too
    EXPECT_EQ(t.node_count(), 1u);
    ASSERT_TRUE(t.well_formed());
    EXPECT_EQ(lookup(t, "10.1.1.1"), 4u);
    EXPECT_EQ(lookup(t, "10.2.0.1"), std::nullopt);
    t.insert(P("10.0.0.0/8"), 5);  // and inserts still work on what is left
    EXPECT_EQ(lookup(t, "10.2.0.1"), 5u);
    EXPECT_EQ(lookup(t, "10.1.1.1"), 4u);
    EXPECT_EQ(t.size(), 2u);
    EXPECT_EQ(t.node_count(), 2u);  // nodes came from the free list
    ASSERT_TRUE(t.well_formed());
}

TEST(AllowedIps, PrefixWithTwoChildrenStaysAsBranchPoint) {
    AllowedIps t;
    t.insert(P("10.0.0.0/8"), 1);
    t.insert(P("10.0.0.0/16"), 2);
    t.insert(P("10.128.0.0/16"), 3);
    EXPECT_EQ(t.node_count(), 3u);
    EXPECT_TRUE(t.remove(P("10.0.0.0/8")));
    EXPECT_EQ(t.node_count(), 3u);  // still needed to tell its children apart
    ASSERT_TRUE(t.well_formed());
    EXPECT_EQ(lookup(t, "10.0.0.1"), 2u);
    EXPECT_EQ(lookup(t, "10.128.0.1"), 3u);
    EXPECT_EQ(lookup(t, "10.64.0.1"), std::nullopt);
    EXPECT_FALSE(t.remove(P("10.0.0.0/8")));
    EXPECT_TRUE(t.remove(P("10.0.0.0/16")));  // the peer-less branch goes with it
    EXPECT_EQ(t.node_count(), 1u);
    ASSERT_TRUE(t.well_formed());
    EXPECT_EQ(lookup(t, "10.128.0.1"), 3u);
}

TEST(AllowedIps, RemovePeerLeavesOthers) {
    AllowedIps t;
    t.insert(P("10.0.0.0/8"), 1);
    t.insert(P("10.1.0.0/16"), 2);
    t.insert(P("10.1.1.0/24"), 1);
    t.insert(P("fd00::/8"), 1);
    t.insert(P("fd00:1::/32"), 2);
    t.remove_peer(1);
    EXPECT_EQ(t.size(), 2u);
    EXPECT_TRUE(t.prefixes_of(1).empty());
    EXPECT_EQ(lookup(t, "10.1.1.1"), 2u);
    EXPECT_EQ(lookup(t, "10.2.1.1"), std::nullopt);
    EXPECT_EQ(lookup(t, "fd00:1::1"), 2u);
    EXPECT_EQ(lookup(t, "fd00:2::1"), std::nullopt);
    t.remove_peer(3);  // unknown: no effect
    EXPECT_EQ(t.size(), 2u);
}

TEST(AllowedIps, PrefixesOfListsV4FirstInAddressOrder) {
    AllowedIps t;
    for (const char* p : {"fd00::/64", "10.1.0.0/16", "10.0.0.0/8", "::/0", "10.0.0.0/24",
                          "1.0.0.0/8", "192.168.0.1/32", "fd00::/8", "10.0.0.0/16"}) {
        t.insert(P(p), 4);
    }
    t.insert(P("10.0.0.0/12"), 5);
    EXPECT_EQ(strings(t.prefixes_of(4)),
              (std::vector<std::string>{"1.0.0.0/8", "10.0.0.0/8", "10.0.0.0/16", "10.0.0.0/24",
                                        "10.1.0.0/16", "192.168.0.1/32", "::/0", "fd00::/8",
                                        "fd00::/64"}));
    EXPECT_EQ(strings(t.prefixes_of(5)), (std::vector<std::string>{"10.0.0.0/12"}));
}

TEST(AllowedIps, HostRoutesAndTheBit64Boundary) {
    AllowedIps t;
    t.insert(P("2001:db8::/63"), 1);
    t.insert(P("2001:db8::/64"), 2);
    t.insert(P("2001:db8::/65"), 3);
    t.insert(P("2001:db8::1/128"), 4);
    t.insert(P("0.0.0.0/32"), 5);
    t.insert(P("255.255.255.255/32"), 6);
    EXPECT_EQ(lookup(t, "2001:db8:0:1::"), 1u);
    EXPECT_EQ(lookup(t, "2001:db8::8000:0:0:0"), 2u);
    EXPECT_EQ(lookup(t, "2001:db8::7fff:0:0:0"), 3u);
    EXPECT_EQ(lookup(t, "2001:db8::1"), 4u);
    EXPECT_EQ(lookup(t, "2001:db8::2"), 3u);
    EXPECT_EQ(lookup(t, "2001:db8:0:2::"), std::nullopt);
    EXPECT_EQ(lookup(t, "0.0.0.0"), 5u);
    EXPECT_EQ(lookup(t, "0.0.0.1"), std::nullopt);
    EXPECT_EQ(lookup(t, "255.255.255.255"), 6u);
    EXPECT_EQ(lookup(t, "255.255.255.254"), std::nullopt);
}

TEST(AllowedIps, ClearEmptiesAndTableIsReusable) {
    AllowedIps t;
    t.insert(P("10.0.0.0/8"), 1);
    t.insert(P("fd00::/8"), 1);
    t.clear();
    EXPECT_TRUE(t.empty());
    EXPECT_EQ(lookup(t, "10.0.0.1"), std::nullopt);
    EXPECT_EQ(lookup(t, "fd00::1"), std::nullopt);
    t.insert(P("10.0.0.0/8"), 2);
    EXPECT_EQ(lookup(t, "10.0.0.1"), 2u);
}

// The control thread builds the next table as an edited copy of the current
// one: the copy must be fully independent.
TEST(AllowedIps, CopyIsIndependent) {
    AllowedIps a;
    a.insert(P("10.0.0.0/8"), 1);
    a.insert(P("10.1.0.0/16"), 2);
    AllowedIps b = a;
    b.remove(P("10.1.0.0/16"));
    b.insert(P("10.2.0.0/16"), 3);
    EXPECT_EQ(lookup(a, "10.1.0.1"), 2u);
    EXPECT_EQ(lookup(a, "10.2.0.1"), 1u);
    EXPECT_EQ(lookup(b, "10.1.0.1"), 1u);
    EXPECT_EQ(lookup(b, "10.2.0.1"), 3u);
}

TEST(AllowedIps, LookupsAreNoexcept) {
    const AllowedIps t;
    const uint8_t a4[4] = {};
    const uint8_t a6[16] = {};
    static_assert(noexcept(t.lookup_v4(a4)));
    static_assert(noexcept(t.lookup_v6(a6)));
    static_assert(noexcept(t.lookup(Family::v4, a4)));
    EXPECT_EQ(t.lookup_v4(a4), std::nullopt);
}

// ---- Differential test against a naive table ---------------------------------

class NaiveTable {
public:
    void insert(const IpPrefix& p, uint32_t peer) {
        const IpPrefix m = p.masked();
        for (auto& [q, owner] : entries_) {
            if (q == m) {
                owner = peer;
                return;
            }
        }
        entries_.emplace_back(m, peer);
    }
    bool remove(const IpPrefix& p) {
        const IpPrefix m = p.masked();
        const auto it = std::find_if(entries_.begin(), entries_.end(),
                                     [&](const auto& e) { return e.first == m; });
        if (it == entries_.end()) return false;
        entries_.erase(it);
        return true;
    }
    void remove_peer(uint32_t peer) {
        std::erase_if(entries_, [&](const auto& e) { return e.second == peer; });
    }
    std::optional<uint32_t> lookup(Family family, const uint8_t* addr) const {
        std::optional<uint32_t> best;
        int best_length = -1;
        for (const auto& [p, peer] : entries_) {
            if (p.family == family && contains(p, addr) && p.length > best_length) {
                best = peer;
                best_length = p.length;
            }
        }
        return best;
    }
    std::vector<IpPrefix> prefixes_of(uint32_t peer) const {
        std::vector<IpPrefix> out;
        for (const auto& [p, owner] : entries_) {
            if (owner == peer) out.push_back(p);
        }
        // Spelled out rather than IpPrefix's operator<, which is under test.
        std::sort(out.begin(), out.end(), [](const IpPrefix& a, const IpPrefix& b) {
            return std::tie(a.family, a.addr, a.length) < std::tie(b.family, b.addr, b.length);
        });
        return out;
    }
    size_t size() const { return entries_.size(); }
    const std::vector<std::pair<IpPrefix, uint32_t>>& entries() const { return entries_; }

    // Whole bytes, then the leading bits of the next one: obviously right,
    // and shares no code with the trie's 64-bit key arithmetic.
    static bool contains(const IpPrefix& p, const uint8_t* addr) {
        const unsigned whole = p.length / 8;
        if (std::memcmp(p.addr.data(), addr, whole) != 0) return false;
        const unsigned rest = p.length % 8;
        if (rest == 0) return true;
        const auto keep = static_cast<uint8_t>(0xff << (8 - rest));
        return (p.addr[whole] & keep) == (addr[whole] & keep);
    }

private:
    std::vector<std::pair<IpPrefix, uint32_t>> entries_;
};

static_assert(Family::v4 < Family::v6, "prefixes_of lists v4 first; the model sorts by family");

void flip_bit(std::array<uint8_t, 16>& a, unsigned i) {
    a[i / 8] ^= static_cast<uint8_t>(0x80u >> (i % 8));
}

class Differential {
public:
    Differential(Family family, uint64_t seed) : family_(family), rng_(seed) {}

    unsigned max_length() const { return IpPrefix::max_length(family_); }
    size_t bytes() const { return IpPrefix::address_bytes(family_); }

    std::array<uint8_t, 16> random_address() {
        std::array<uint8_t, 16> a{};
        for (size_t i = 0; i < bytes(); ++i) a[i] = static_cast<uint8_t>(rng_());
        return a;
    }

    // Lengths skewed to byte and word edges, the extremes and the family's
    // favourites, with the rest uniform.
    uint8_t random_length() {
        static constexpr uint8_t kV4[] = {0, 1, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32};
        static constexpr uint8_t kV6[] = {0,  1,  8,  31, 32, 33,  47, 48,
                                          56, 63, 64, 65, 96, 127, 128};
        if (rng_() % 2 == 0) return static_cast<uint8_t>(rng_() % (max_length() + 1));
        return family_ == Family::v4 ? kV4[rng_() % std::size(kV4)] : kV6[rng_() % std::size(kV6)];
    }

    // Half of the new prefixes nest inside, or sit beside, existing ones, so
    // the trie gets deep and branchy instead of a flat fan of random /24s.
    IpPrefix random_prefix() {
        IpPrefix p;
        p.family = family_;
        if (model_.size() == 0 || rng_() % 2 == 0) {
            p.addr = random_address();
        } else {
            const IpPrefix& base = pick_existing();
            p.addr = base.addr;
            for (unsigned i = base.length; i < max_length(); ++i) {
                if (rng_() % 3 == 0) flip_bit(p.addr, i);
            }
            if (base.length > 0 && rng_() % 4 == 0) flip_bit(p.addr, base.length - 1);  // sibling
        }
        p.length = random_length();
        return p;  // host bits left in: insert must mask them
    }

    const IpPrefix& pick_existing() {
        const auto& e = model_.entries();  // all of this family
        return e[rng_() % e.size()].first;
    }

    // Addresses at, just inside and just outside a stored prefix's edges.
    std::array<uint8_t, 16> probe_address() {
        if (model_.size() == 0 || rng_() % 4 == 0) return random_address();
        const IpPrefix& p = pick_existing();
        std::array<uint8_t, 16> a = p.addr;  // the first address in p
        switch (rng_() % 6) {
            case 0:
                break;
            case 1:  // the last address in p
                for (unsigned i = p.length; i < max_length(); ++i) flip_bit(a, i);
                break;
            case 2:  // one before the first: borrow through the host bits
                if (p.length > 0) flip_bit(a, p.length - 1);
                for (unsigned i = p.length; i < max_length(); ++i) flip_bit(a, i);
                break;
            case 3:  // just past the last
                if (p.length > 0) flip_bit(a, p.length - 1);
                break;
            case 4:  // random host part
                for (unsigned i = p.length; i < max_length(); ++i) {
                    if (rng_() % 2) flip_bit(a, i);
                }
                break;
            case 5:  // the first bit past the prefix flipped (the other child)
                if (p.length < max_length()) flip_bit(a, p.length);
                break;
        }
        return a;
    }

    ::testing::AssertionResult check_lookups(int count) {
        for (int i = 0; i < count; ++i) {
            const auto a = probe_address();
            const auto got =
                family_ == Family::v4 ? table_.lookup_v4(a.data()) : table_.lookup_v6(a.data());
            const auto want = model_.lookup(family_, a.data());
            if (got != want) {
                IpPrefix shown;
                shown.family = family_;
                shown.addr = a;
                shown.length = static_cast<uint8_t>(max_length());
                return ::testing::AssertionFailure()
                       << "lookup " << shown.to_string() << ": got "
                       << (got ? std::to_string(*got) : "none") << ", model "
                       << (want ? std::to_string(*want) : "none");
            }
        }
        return ::testing::AssertionSuccess();
    }

    ::testing::AssertionResult check_listing() {
        if (table_.size() != model_.size()) {
            return ::testing::AssertionFailure()
                   << "size " << table_.size() << ", model " << model_.size();
        }
        for (uint32_t peer = 0; peer < kPeers; ++peer) {
            if (table_.prefixes_of(peer) != model_.prefixes_of(peer)) {
                return ::testing::AssertionFailure() << "prefixes_of(" << peer << ") differs";
            }
        }
        return ::testing::AssertionSuccess();
    }

    void run(int ops, size_t target_size) {
        for (int op = 0; op < ops; ++op) {
            // Grow towards target_size (mostly inserts), then hover around it
            // (inserts and removals balanced, and now and then a whole peer
            // goes, which takes 1/kPeers of the table with it).
            const bool grow = model_.size() < target_size;
            const unsigned kind = static_cast<unsigned>(rng_() % 1000);
            if (kind < (grow ? 850u : 450u)) {
                const IpPrefix p = random_prefix();
                const uint32_t peer = static_cast<uint32_t>(rng_() % kPeers);
                ASSERT_TRUE(table_.insert(p, peer));
                model_.insert(p, peer);
            } else if (kind < (grow ? 970u : 900u)) {
                if (model_.size() == 0) continue;
                IpPrefix p = pick_existing();
                // Sometimes with host bits set: remove must mask too.
                if (p.length < max_length() && rng_() % 4 == 0) {
                    flip_bit(p.addr, max_length() - 1);
                }
                ASSERT_TRUE(table_.remove(p));
                ASSERT_TRUE(model_.remove(p));
            } else if (grow || kind < 990u) {
                const IpPrefix p = random_prefix();  // usually absent
                ASSERT_EQ(table_.remove(p), model_.remove(p)) << p.to_string();
            } else {
                const uint32_t peer = static_cast<uint32_t>(rng_() % kPeers);
                table_.remove_peer(peer);
                model_.remove_peer(peer);
            }
            peak_size_ = std::max(peak_size_, model_.size());
            if (model_.size() < 100 || op % 250 == 0) {
                ASSERT_TRUE(table_.well_formed()) << "op " << op;
                ASSERT_LE(table_.node_count(), 2 * table_.size()) << "op " << op;
            }
            ASSERT_TRUE(check_lookups(4)) << "op " << op;
            if (op % 1000 == 0) {
                ASSERT_TRUE(check_listing()) << "op " << op;
            }
        }
        // The test of the test: the table really got as big as intended.
        ASSERT_GE(peak_size_, target_size);
        ASSERT_TRUE(check_listing());
        ASSERT_TRUE(check_lookups(20000));
        // Empty it completely, one prefix at a time, checking as it shrinks.
        while (model_.size() > 0) {
            const IpPrefix p = pick_existing();
            ASSERT_TRUE(table_.remove(p));
            ASSERT_TRUE(model_.remove(p));
            if (model_.size() % 64 == 0) {
                ASSERT_TRUE(check_lookups(16));
            }
        }
        ASSERT_TRUE(table_.empty());
        ASSERT_TRUE(table_.well_formed());
        ASSERT_EQ(table_.node_count(), 0u);  // every node went back to the pool
        ASSERT_TRUE(check_lookups(100));
    }

private:
    static constexpr uint32_t kPeers = 40;
    Family family_;
    std::mt19937_64 rng_;
    AllowedIps table_;
    NaiveTable model_;
    size_t peak_size_ = 0;
};

TEST(AllowedIpsDifferential, RandomIpv4TablesMatchModel) {
    for (uint64_t seed = 11; seed <= 13; ++seed) {
        SCOPED_TRACE(::testing::Message() << "seed " << seed);
        Differential d(Family::v4, seed);
        d.run(12000, 3000);
        if (HasFatalFailure()) return;
    }
}

TEST(AllowedIpsDifferential, RandomIpv6TablesMatchModel) {
    for (uint64_t seed = 21; seed <= 23; ++seed) {
        SCOPED_TRACE(::testing::Message() << "seed " << seed);
        Differential d(Family::v6, seed);
        d.run(12000, 3000);
        if (HasFatalFailure()) return;
    }
}

// Small tables churn through node reuse (the free list) far more often.
TEST(AllowedIpsDifferential, SmallChurningTablesMatchModel) {
    for (uint64_t seed = 31; seed < 51; ++seed) {
        SCOPED_TRACE(::testing::Message() << "seed " << seed);
        Differential d(seed % 2 ? Family::v4 : Family::v6, seed);
        d.run(3000, 20);
        if (HasFatalFailure()) return;
    }
}

// Both families in one table, so neither can disturb the other's trie.
TEST(AllowedIpsDifferential, MixedFamiliesMatchModel) {
    std::mt19937_64 rng(77);
    AllowedIps table;
    NaiveTable model;
    std::vector<IpPrefix> live;
    for (int op = 0; op < 6000; ++op) {
        const Family f = rng() % 2 ? Family::v4 : Family::v6;
        IpPrefix p;
        p.family = f;
        for (size_t i = 0; i < IpPrefix::address_bytes(f); ++i) {
            p.addr[i] = static_cast<uint8_t>(rng() % 4);  // few values: lots of sharing
        }
        p.length = static_cast<uint8_t>(rng() % (IpPrefix::max_length(f) + 1));
        if (rng() % 4 == 0 && !live.empty()) {
            const size_t i = rng() % live.size();
            ASSERT_EQ(table.remove(live[i]), model.remove(live[i]));
            live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
        } else {
            const uint32_t peer = static_cast<uint32_t>(rng() % 8);
            ASSERT_TRUE(table.insert(p, peer));
            model.insert(p, peer);
            live.push_back(p.masked());
        }
        for (int k = 0; k < 4; ++k) {
            const Family g = k % 2 ? Family::v4 : Family::v6;
            std::array<uint8_t, 16> a{};
            for (size_t i = 0; i < IpPrefix::address_bytes(g); ++i) {
                a[i] = static_cast<uint8_t>(rng() % 4);
            }
            ASSERT_EQ(table.lookup(g, a.data()), model.lookup(g, a.data())) << "op " << op;
        }
    }
    EXPECT_EQ(table.size(), model.size());
    EXPECT_TRUE(table.well_formed());
    for (uint32_t peer = 0; peer < 8; ++peer) {
        EXPECT_EQ(table.prefixes_of(peer), model.prefixes_of(peer)) << peer;
    }
}

}  // namespace
}  // namespace sluice
