// The af_xdp driver's XDP side: sluice's program judged frame by frame in the
// kernel (BPF_PROG_TEST_RUN on the configured object, as the PMD loads it),
// and end to end on a veth pair between two network namespaces: net_af_xdp
// with our program receives the tunnel's UDP and ARP for sluice's address,
// while the kernel on the same interface keeps its UDP and TCP. Root only.
#include "drivers/af_xdp/xdp_steering.hpp"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "drivers/dpdk/ethdev_port.hpp"
#include "tests/unit/eal_environment.hpp"

namespace sluice {
namespace {

const EalEnvironment* const g_eal = EalEnvironment::add("xdp-steering-test", 256, true);

constexpr uint16_t tunnel_port = 51820;

using Bytes = std::vector<uint8_t>;

IpAddress address(const char* text) {
    auto a = parse_ip_address(text);
    EXPECT_TRUE(a.has_value()) << text;
    return a.value_or(IpAddress{});
}

// ---- Frames ------------------------------------------------------------------

class FrameBuilder {
public:
    FrameBuilder& u8(uint8_t v) {
        b_.push_back(v);
        return *this;
    }
    FrameBuilder& u16(uint16_t v) {
        return u8(static_cast<uint8_t>(v >> 8)).u8(static_cast<uint8_t>(v));
    }
    FrameBuilder& u32(uint32_t v) {
        return u16(static_cast<uint16_t>(v >> 16)).u16(static_cast<uint16_t>(v));
    }
    FrameBuilder& raw(const void* p, size_t n) {
        const auto* c = static_cast<const uint8_t*>(p);
        b_.insert(b_.end(), c, c + n);
        return *this;
    }
    FrameBuilder& zeros(size_t n) {
        b_.insert(b_.end(), n, 0);
        return *this;
    }
    FrameBuilder& v4(const char* a) {
        in_addr x{};
        EXPECT_EQ(inet_pton(AF_INET, a, &x), 1) << a;
        return raw(&x, 4);
    }
    FrameBuilder& v6(const char* a) {
        in6_addr x{};
        EXPECT_EQ(inet_pton(AF_INET6, a, &x), 1) << a;
        return raw(&x, 16);
    }
    FrameBuilder& mac(uint8_t last) {
        const uint8_t m[6] = {0x02, 0, 0, 0, 0, last};
        return raw(m, 6);
    }
    Bytes done() { return std::move(b_); }

private:
    Bytes b_;
};

FrameBuilder ether(uint16_t type) {
    FrameBuilder f;
    f.mac(1).mac(2).u16(type);
    return f;
}

FrameBuilder& ipv4(FrameBuilder& f, const char* dst, uint8_t proto, uint16_t frag = 0) {
    f.u8(0x45).u8(0).u16(100);                // version and IHL, TOS, total length
    f.u16(1).u16(frag).u8(64).u8(proto);      // id, flags and offset, TTL, protocol
    return f.u16(0).v4("192.0.2.1").v4(dst);  // checksum, source, destination
}

Bytes udp4(const char* dst, uint16_t port, uint16_t frag = 0) {
    FrameBuilder f = ether(0x0800);
    ipv4(f, dst, 17, frag).u16(40000).u16(port).u16(16).u16(0).zeros(8);
    return f.done();
}

Bytes tcp4(const char* dst, uint16_t port) {
    FrameBuilder f = ether(0x0800);
    ipv4(f, dst, 6).u16(40000).u16(port).u32(1).u32(0).u8(0x50).u8(0x02).u16(65535).u16(0).u16(0);
    return f.done();
}

Bytes icmp4(const char* dst, uint8_t type) {
    FrameBuilder f = ether(0x0800);
    ipv4(f, dst, 1).u8(type).u8(0).u16(0).u16(1).u16(1).zeros(8);
    return f.done();
}

Bytes arp(const char* target, uint16_t op = 1) {
    FrameBuilder f = ether(0x0806);
    f.u16(1).u16(0x0800).u8(6).u8(4).u16(op).mac(2).v4("192.0.2.1").zeros(6).v4(target);
    return f.done();
}

FrameBuilder& ipv6(FrameBuilder& f, const char* dst, uint8_t next, uint16_t payload) {
    return f.u32(0x60000000).u16(payload).u8(next).u8(64).v6("2001:db8::1").v6(dst);
}

Bytes udp6(const char* dst, uint16_t port) {
    FrameBuilder f = ether(0x86dd);
    ipv6(f, dst, 17, 16).u16(40000).u16(port).u16(16).u16(0).zeros(8);
    return f.done();
}

Bytes icmp6(const char* dst, uint8_t type, const char* target = nullptr) {
    FrameBuilder f = ether(0x86dd);
    ipv6(f, dst, 58, target != nullptr ? 24 : 8).u8(type).u8(0).u16(0).u32(0);
    if (target != nullptr) f.v6(target);
    return f.done();
}

// ---- The program in the kernel, not attached ------------------------------------

enum class Verdict { steered, passed, error };

const char* name(Verdict v) {
    return v == Verdict::steered ? "steered" : v == Verdict::passed ? "passed" : "error";
}

// The configured object loaded as the PMD loads it (libbpf), run on frames
// with BPF_PROG_TEST_RUN. Its xsks_map is empty, so a frame the program
// steers comes back XDP_PASS too and counts as no_socket: the counters tell
// the two decisions apart.
class LoadedProgram {
public:
    static std::unique_ptr<LoadedProgram> load(const XdpSteeringConfig& config,
                                               std::string* error) {
        std::unique_ptr<LoadedProgram> p(new LoadedProgram);
        if (!XdpSteering::configured_object(config, 42, &p->bytes_, error)) return nullptr;
        p->obj_ = bpf_object__open_mem(p->bytes_.data(), p->bytes_.size(), nullptr);
        if (p->obj_ == nullptr) {
            *error = "open failed";
            return nullptr;
        }
        if (const int rc = bpf_object__load(p->obj_); rc != 0) {
            *error = std::string("load failed: ") + std::strerror(-rc);
            return nullptr;
        }
        bpf_program* prog = bpf_object__find_program_by_name(p->obj_, "sluice_xdp");
        bpf_map* stats = bpf_object__find_map_by_name(p->obj_, "sluice_stats");
        if (prog == nullptr || stats == nullptr ||
            bpf_object__find_map_by_name(p->obj_, "xsks_map") == nullptr) {
            *error = "program or maps missing";
            return nullptr;
        }
        p->prog_fd_ = bpf_program__fd(prog);
        p->stats_fd_ = bpf_map__fd(stats);
        return p;
    }
    ~LoadedProgram() {
        if (obj_ != nullptr) bpf_object__close(obj_);
    }

    std::array<uint64_t, 3> counters() const {
        std::vector<std::array<uint64_t, 3>> per_cpu(
            static_cast<size_t>(libbpf_num_possible_cpus()));
        const uint32_t key = 0;
        std::array<uint64_t, 3> sum{};
        if (bpf_map_lookup_elem(stats_fd_, &key, per_cpu.data()) != 0) return sum;
        for (const auto& c : per_cpu)
            for (size_t i = 0; i < 3; ++i) sum[i] += c[i];
        return sum;
    }

    Verdict run(const Bytes& frame) const {
        const auto before = counters();
        bpf_test_run_opts o{};
        o.sz = sizeof(o);
        o.data_in = frame.data();
        o.data_size_in = static_cast<uint32_t>(frame.size());
        o.repeat = 1;
        if (bpf_prog_test_run_opts(prog_fd_, &o) != 0 || o.retval != XDP_PASS)
            return Verdict::error;
        const auto after = counters();
        const uint64_t steered = after[0] - before[0] + after[2] - before[2];
        const uint64_t passed = after[1] - before[1];
        if (steered == 1 && passed == 0) return Verdict::steered;
        if (steered == 0 && passed == 1) return Verdict::passed;
        return Verdict::error;
    }

private:
    LoadedProgram() = default;
    Bytes bytes_;
    bpf_object* obj_ = nullptr;
    int prog_fd_ = -1;
    int stats_fd_ = -1;
};

#define EXPECT_VERDICT(program, frame, verdict) \
    EXPECT_STREQ(name((program).run(frame)), name(verdict)) << #frame

class XdpProgramTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "loading BPF programs needs root";
    }
    std::unique_ptr<LoadedProgram> load(XdpSteeringConfig config) {
        std::string error;
        auto p = LoadedProgram::load(config, &error);
        EXPECT_NE(p, nullptr) << error;
        return p;
    }
};

TEST_F(XdpProgramTest, PortOnlySteersTheTunnelsUdpAndPassesTheRest) {
    auto p = load({.ifname = "x", .udp_port = tunnel_port});
    ASSERT_NE(p, nullptr);
    EXPECT_VERDICT(*p, udp4("198.51.100.7", tunnel_port), Verdict::steered);
    EXPECT_VERDICT(*p, udp6("2001:db8::7", tunnel_port), Verdict::steered);
    EXPECT_VERDICT(*p, udp4("198.51.100.7", tunnel_port + 1), Verdict::passed);
    EXPECT_VERDICT(*p, udp4("198.51.100.7", 53), Verdict::passed);
    EXPECT_VERDICT(*p, udp6("2001:db8::7", 53), Verdict::passed);
    EXPECT_VERDICT(*p, tcp4("198.51.100.7", tunnel_port), Verdict::passed);
    EXPECT_VERDICT(*p, tcp4("198.51.100.7", 22), Verdict::passed);
    // Without addresses there is nothing of ours to answer: ARP, ND and echo pass.
    EXPECT_VERDICT(*p, arp("198.51.100.7"), Verdict::passed);
    EXPECT_VERDICT(*p, icmp4("198.51.100.7", 8), Verdict::passed);
    EXPECT_VERDICT(*p, icmp6("ff02::1:ff00:7", 135, "2001:db8::7"), Verdict::passed);
}

TEST_F(XdpProgramTest, WithAddressesOnlyOursAreSteered) {
    auto p = load({.ifname = "x",
                   .udp_port = tunnel_port,
                   .addresses = {address("198.51.100.10"), address("198.51.100.11"),
                                 address("2001:db8::10")}});
    ASSERT_NE(p, nullptr);
    // UDP to the port: only to our addresses.
    EXPECT_VERDICT(*p, udp4("198.51.100.10", tunnel_port), Verdict::steered);
    EXPECT_VERDICT(*p, udp4("198.51.100.11", tunnel_port), Verdict::steered);
    EXPECT_VERDICT(*p, udp4("198.51.100.1", tunnel_port), Verdict::passed);  // the host's
    EXPECT_VERDICT(*p, udp4("198.51.100.10", 53), Verdict::passed);
    EXPECT_VERDICT(*p, udp6("2001:db8::10", tunnel_port), Verdict::steered);
    EXPECT_VERDICT(*p, udp6("2001:db8::1", tunnel_port), Verdict::passed);
    // ARP whose target is ours (requests for us, replies to us); not the host's.
    EXPECT_VERDICT(*p, arp("198.51.100.10"), Verdict::steered);
    EXPECT_VERDICT(*p, arp("198.51.100.11", 2), Verdict::steered);
    EXPECT_VERDICT(*p, arp("198.51.100.1"), Verdict::passed);
    // ICMP echo requests to us; replies and others' pass.
    EXPECT_VERDICT(*p, icmp4("198.51.100.10", 8), Verdict::steered);
    EXPECT_VERDICT(*p, icmp4("198.51.100.10", 0), Verdict::passed);
    EXPECT_VERDICT(*p, icmp4("198.51.100.1", 8), Verdict::passed);
    EXPECT_VERDICT(*p, tcp4("198.51.100.10", 22), Verdict::passed);
    // IPv6: NS for our address (to its solicited-node group), NA for it or to it, echo.
    EXPECT_VERDICT(*p, icmp6("ff02::1:ff00:10", 135, "2001:db8::10"), Verdict::steered);
    EXPECT_VERDICT(*p, icmp6("ff02::1:ff00:1", 135, "2001:db8::1"), Verdict::passed);
    EXPECT_VERDICT(*p, icmp6("2001:db8::10", 136, "2001:db8::99"), Verdict::steered);
    EXPECT_VERDICT(*p, icmp6("ff02::1", 136, "2001:db8::10"), Verdict::steered);
    EXPECT_VERDICT(*p, icmp6("2001:db8::1", 136, "2001:db8::99"), Verdict::passed);
    EXPECT_VERDICT(*p, icmp6("2001:db8::10", 128), Verdict::steered);
    EXPECT_VERDICT(*p, icmp6("2001:db8::10", 129), Verdict::passed);
    EXPECT_VERDICT(*p, icmp6("2001:db8::1", 128), Verdict::passed);
    EXPECT_VERDICT(*p, icmp6("ff02::2", 133), Verdict::passed);  // router solicitation
}

TEST_F(XdpProgramTest, NeighbourSteeringCanBeLeftToTheKernel) {
    auto p = load({.ifname = "x",
                   .udp_port = tunnel_port,
                   .addresses = {address("198.51.100.10"), address("2001:db8::10")},
                   .steer_neighbour = false});
    ASSERT_NE(p, nullptr);
    EXPECT_VERDICT(*p, udp4("198.51.100.10", tunnel_port), Verdict::steered);
    EXPECT_VERDICT(*p, arp("198.51.100.10"), Verdict::passed);
    EXPECT_VERDICT(*p, icmp4("198.51.100.10", 8), Verdict::passed);
    EXPECT_VERDICT(*p, icmp6("ff02::1:ff00:10", 135, "2001:db8::10"), Verdict::passed);
}

TEST_F(XdpProgramTest, OddAndTruncatedFramesPass) {
    auto p =
        load({.ifname = "x", .udp_port = tunnel_port, .addresses = {address("198.51.100.10")}});
    ASSERT_NE(p, nullptr);
    const Bytes good = udp4("198.51.100.10", tunnel_port);
    ASSERT_EQ(p->run(good), Verdict::steered);
    // Cut anywhere before the end of the UDP header (14 bytes is the least a
    // test run takes): the kernel gets it.
    for (size_t n = 14; n < 14 + 20 + 8; ++n)
        EXPECT_VERDICT(*p, Bytes(good.begin(), good.begin() + static_cast<long>(n)),
                       Verdict::passed)
            << n << " bytes";
    // Fragments: first (MF), later ones (offset).
    EXPECT_VERDICT(*p, udp4("198.51.100.10", tunnel_port, 0x2000), Verdict::passed);
    EXPECT_VERDICT(*p, udp4("198.51.100.10", tunnel_port, 0x0010), Verdict::passed);
    EXPECT_VERDICT(*p, udp4("198.51.100.10", tunnel_port, 0x4000), Verdict::steered);  // DF only
    // IPv4 options move the UDP header; bad header lengths pass.
    {
        FrameBuilder f = ether(0x0800);
        f.u8(0x46).u8(0).u16(104);  // IHL 6: four bytes of options
        f.u16(1).u16(0).u8(64).u8(17);
        f.u16(0).v4("192.0.2.1").v4("198.51.100.10");
        f.u32(0x01010101).u16(40000).u16(tunnel_port).u16(16).u16(0).zeros(8);
        EXPECT_VERDICT(*p, f.done(), Verdict::steered);
        Bytes opts = udp4("198.51.100.10", tunnel_port);
        opts[14] = 0x44;  // IHL 4
        EXPECT_VERDICT(*p, opts, Verdict::passed);
        opts[14] = 0x4f;  // IHL 15: the UDP header would lie past the frame
        EXPECT_VERDICT(*p, opts, Verdict::passed);
        opts[14] = 0x65;  // version 6 in an IPv4 frame
        EXPECT_VERDICT(*p, opts, Verdict::passed);
    }
    // A VLAN tag hides the rest: passed.
    {
        FrameBuilder f;
        f.mac(1).mac(2).u16(0x8100).u16(100).u16(0x0800);
        ipv4(f, "198.51.100.10", 17).u16(40000).u16(tunnel_port).u16(16).u16(0).zeros(8);
        EXPECT_VERDICT(*p, f.done(), Verdict::passed);
    }
    // Truncated ARP, unknown ethertype, short IPv6, IPv6 with a hop-by-hop header.
    const Bytes a = arp("198.51.100.10");
    EXPECT_VERDICT(*p, Bytes(a.begin(), a.end() - 1), Verdict::passed);
    {
        Bytes other = a;
        other[12] = 0x88;  // 0x8806
        EXPECT_VERDICT(*p, other, Verdict::passed);
    }
    auto p6 = load({.ifname = "x", .udp_port = tunnel_port});
    ASSERT_NE(p6, nullptr);
    const Bytes u6 = udp6("2001:db8::10", tunnel_port);
    ASSERT_EQ(p6->run(u6), Verdict::steered);
    for (size_t n : {14, 20, 53, 54, 61})
        EXPECT_VERDICT(*p6, Bytes(u6.begin(), u6.begin() + static_cast<long>(n)), Verdict::passed)
            << n << " bytes";
    {
        FrameBuilder f = ether(0x86dd);
        ipv6(f, "2001:db8::10", 0, 24);         // next header 0: hop-by-hop
        f.u8(17).u8(0).zeros(6);                // its next header: UDP
        f.u16(40000).u16(tunnel_port).u16(16);  // the UDP it hides
        f.u16(0).zeros(8);
        EXPECT_VERDICT(*p6, f.done(), Verdict::passed);
    }
    const Bytes ns = icmp6("ff02::1:ff00:10", 135, "2001:db8::10");
    EXPECT_VERDICT(*p, Bytes(ns.begin(), ns.end() - 1), Verdict::passed);
}

// ---- The configured object, without the kernel ----------------------------------

TEST(XdpSteeringConfig, ObjectIsBakedOnlyWhenTheConfigurationFits) {
    ASSERT_GT(XdpSteering::program_object().size(), 1000u);
    std::vector<uint8_t> out;
    std::string error;
    ASSERT_TRUE(XdpSteering::configured_object({.ifname = "x", .udp_port = 1}, 7, &out, &error))
        << error;
    EXPECT_EQ(out.size(), XdpSteering::program_object().size());
    EXPECT_NE(out, std::vector<uint8_t>(XdpSteering::program_object().begin(),
                                        XdpSteering::program_object().end()));

    EXPECT_FALSE(XdpSteering::configured_object({.ifname = "x"}, 7, &out, &error));
    EXPECT_EQ(error, "no UDP port to steer");
    XdpSteeringConfig many{.ifname = "x", .udp_port = 1};
    for (int i = 0; i < 9; ++i)
        many.addresses.push_back(address(("10.0.0." + std::to_string(i + 1)).c_str()));
    EXPECT_FALSE(XdpSteering::configured_object(many, 7, &out, &error));
    EXPECT_EQ(error, "more than 8 IPv4 addresses");
    many.addresses.resize(8);
    for (int i = 0; i < 9; ++i)
        many.addresses.push_back(address(("fd00::" + std::to_string(i + 1)).c_str()));
    EXPECT_FALSE(XdpSteering::configured_object(many, 7, &out, &error));
    EXPECT_EQ(error, "more than 8 IPv6 addresses");
    EXPECT_FALSE(XdpSteering::configured_object({.ifname = "x", .udp_port = 1, .queues = 65}, 7,
                                                &out, &error));
    EXPECT_EQ(error, "65 queues asked for, the program serves 1 to 64");
}

TEST(XdpSteeringAttach, NamesTheInterfaceAndTheReason) {
    std::string error;
    EXPECT_EQ(XdpSteering::attach({.ifname = "nosuch0", .udp_port = 1}, &error), nullptr);
    EXPECT_EQ(error, "XDP refused on nosuch0: no such interface");
    EXPECT_EQ(XdpSteering::attach({.ifname = "", .udp_port = 1}, &error), nullptr);
    EXPECT_EQ(error, "XDP refused on '': not an interface name");
    EXPECT_EQ(XdpSteering::attach({.ifname = "lo", .udp_port = 0}, &error), nullptr);
    EXPECT_EQ(error, "XDP refused on lo: no UDP port to steer");
}

// ---- On a veth pair between two network namespaces ----------------------------

int sh(const std::string& command) {
    return std::system((command + " >/dev/null 2>&1").c_str());
}

// A named network namespace (ip netns), deleted with whatever is in it.
class Netns {
public:
    explicit Netns(std::string name) : name_(std::move(name)) {
        sh("ip netns delete " + name_);
        ok_ = sh("ip netns add " + name_) == 0;
    }
    ~Netns() {
        if (ok_) sh("ip netns delete " + name_);
    }
    Netns(const Netns&) = delete;
    Netns& operator=(const Netns&) = delete;
    [[nodiscard]] bool ok() const { return ok_; }
    [[nodiscard]] const std::string& name() const { return name_; }

private:
    std::string name_;
    bool ok_ = false;
};

// This thread in a namespace until destruction. Sockets keep the namespace
// they were made in, so one thread can hold both ends.
class InNetns {
public:
    explicit InNetns(const Netns& ns) {
        self_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        const int fd = ::open(("/run/netns/" + ns.name()).c_str(), O_RDONLY | O_CLOEXEC);
        ok_ = self_ >= 0 && fd >= 0 && ::setns(fd, CLONE_NEWNET) == 0;
        if (fd >= 0) ::close(fd);
    }
    ~InNetns() {
        if (self_ >= 0) {
            if (ok_) {
                EXPECT_EQ(::setns(self_, CLONE_NEWNET), 0);
            }
            ::close(self_);
        }
    }
    InNetns(const InNetns&) = delete;
    InNetns& operator=(const InNetns&) = delete;
    [[nodiscard]] bool ok() const { return ok_; }

private:
    int self_ = -1;
    bool ok_ = false;
};

class Socket {
public:
    explicit Socket(int fd = -1) : fd_(fd) {}
    ~Socket() {
        if (fd_ >= 0) ::close(fd_);
    }
    Socket(Socket&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    Socket& operator=(Socket&& o) noexcept {
        std::swap(fd_, o.fd_);
        return *this;
    }
    [[nodiscard]] int fd() const { return fd_; }

private:
    int fd_;
};

sockaddr_in sin(const char* a, uint16_t port) {
    sockaddr_in s{};
    s.sin_family = AF_INET;
    s.sin_port = htons(port);
    inet_pton(AF_INET, a, &s.sin_addr);
    return s;
}

bool readable(int fd, int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, timeout_ms) == 1;
}

struct XdpAttachment {
    uint32_t prog_id = 0;
    uint8_t mode = XDP_ATTACHED_NONE;
};

XdpAttachment xdp_on(const char* ifname) {
    XdpAttachment a;
    bpf_xdp_query_opts q{};
    q.sz = sizeof(q);
    const unsigned ifindex = if_nametoindex(ifname);
    if (ifindex != 0 && bpf_xdp_query(static_cast<int>(ifindex), 0, &q) == 0) {
        a.prog_id = q.drv_prog_id != 0 ? q.drv_prog_id : q.skb_prog_id;
        a.mode = q.attach_mode;
    }
    return a;
}

constexpr const char* host_addr = "10.99.0.1";     // the kernel's, on xdp0
constexpr const char* sluice_addr = "10.99.0.10";  // sluice's, on xdp0 too
constexpr const char* peer_addr = "10.99.0.2";     // the other end

// xdp0 in one namespace, its veth peer peer0 in another.
class VethTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, XDP)";
        const std::string tag = std::to_string(::getpid());
        gw_ = std::make_unique<Netns>("sluice-xdp-gw-" + tag);
        peer_ = std::make_unique<Netns>("sluice-xdp-peer-" + tag);
        if (!gw_->ok() || !peer_->ok())
            GTEST_SKIP() << "cannot create network namespaces (ip netns)";
        const std::string gw = " -n " + gw_->name();
        const std::string peer = " -n " + peer_->name();
        ASSERT_EQ(sh("ip link add xdp0 netns " + gw_->name() + " type veth peer name peer0 netns " +
                     peer_->name()),
                  0);
        ASSERT_EQ(sh("ip" + gw + " addr add " + host_addr + "/24 dev xdp0"), 0);
        ASSERT_EQ(sh("ip" + gw + " link set xdp0 up"), 0);
        ASSERT_EQ(sh("ip" + gw + " link set lo up"), 0);
        ASSERT_EQ(sh("ip" + peer + " addr add " + peer_addr + "/24 dev peer0"), 0);
        ASSERT_EQ(sh("ip" + peer + " link set peer0 up"), 0);
    }
    void TearDown() override {
        peer_.reset();
        gw_.reset();
    }

    std::unique_ptr<Netns> gw_;
    std::unique_ptr<Netns> peer_;
};

// A trivial XDP_PASS program attached natively on `ifindex`; detached and freed on destruction.
class ForeignProgram {
public:
    explicit ForeignProgram(int ifindex) : ifindex_(ifindex) {
        const bpf_insn insns[] = {
            {.code = BPF_ALU64 | BPF_MOV | BPF_K,
             .dst_reg = BPF_REG_0,
             .src_reg = 0,
             .off = 0,
             .imm = XDP_PASS},
            {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
        };
        fd_ = bpf_prog_load(BPF_PROG_TYPE_XDP, "foreign", "GPL", insns, 2, nullptr);
        attached_ = fd_ >= 0 && bpf_xdp_attach(ifindex_, fd_, XDP_FLAGS_DRV_MODE, nullptr) == 0;
    }
    ~ForeignProgram() {
        if (attached_) bpf_xdp_detach(ifindex_, XDP_FLAGS_DRV_MODE, nullptr);
        if (fd_ >= 0) ::close(fd_);
    }
    [[nodiscard]] bool attached() const { return attached_; }

private:
    int ifindex_;
    int fd_ = -1;
    bool attached_ = false;
};

TEST_F(VethTest, RefusesAnInterfaceAnotherProgramHolds) {
    InNetns in(*gw_);
    ASSERT_TRUE(in.ok());
    const int ifindex = static_cast<int>(if_nametoindex("xdp0"));
    {
        ForeignProgram foreign(ifindex);
        ASSERT_TRUE(foreign.attached());
        std::string error;
        EXPECT_EQ(XdpSteering::attach({.ifname = "xdp0", .udp_port = tunnel_port}, &error),
                  nullptr);
        EXPECT_NE(error.find("XDP refused on xdp0: another XDP program "), std::string::npos)
            << error;
        EXPECT_NE(error.find("'foreign' (native mode) is attached"), std::string::npos) << error;
        EXPECT_NE(xdp_on("xdp0").prog_id, 0u);  // left alone
    }
    EXPECT_EQ(xdp_on("xdp0").prog_id, 0u);
}

// Attaches `object` (a configured object) natively on `ifindex` with libbpf,
// as the PMD does, and sets its owner pid: a sluice program left behind.
class LeftBehind {
public:
    LeftBehind(int ifindex, uint32_t owner_pid) : ifindex_(ifindex) {
        std::string error;
        EXPECT_TRUE(XdpSteering::configured_object({.ifname = "xdp0", .udp_port = tunnel_port}, 99,
                                                   &bytes_, &error))
            << error;
        obj_ = bpf_object__open_mem(bytes_.data(), bytes_.size(), nullptr);
        if (obj_ == nullptr || bpf_object__load(obj_) != 0) return;
        bpf_program* prog = bpf_object__find_program_by_name(obj_, "sluice_xdp");
        bpf_map* data = nullptr;
        for (bpf_map* m = bpf_object__next_map(obj_, nullptr); m != nullptr;
             m = bpf_object__next_map(obj_, m))
            if (std::string(bpf_map__name(m)).ends_with(".data")) data = m;
        if (prog == nullptr || data == nullptr) return;
        // owner_pid lies at byte 12 of the configuration.
        std::vector<uint8_t> value(bpf_map__value_size(data));
        const uint32_t key = 0;
        if (bpf_map_lookup_elem(bpf_map__fd(data), &key, value.data()) != 0) return;
        std::memcpy(value.data() + 12, &owner_pid, 4);
        if (bpf_map_update_elem(bpf_map__fd(data), &key, value.data(), 0) != 0) return;
        attached_ = bpf_xdp_attach(ifindex_, bpf_program__fd(prog), XDP_FLAGS_UPDATE_IF_NOEXIST,
                                   nullptr) == 0;
    }
    ~LeftBehind() {
        if (attached_ && xdp_on("xdp0").prog_id != 0) bpf_xdp_detach(ifindex_, 0, nullptr);
        if (obj_ != nullptr) bpf_object__close(obj_);
    }
    [[nodiscard]] bool attached() const { return attached_; }

private:
    int ifindex_;
    std::vector<uint8_t> bytes_;
    bpf_object* obj_ = nullptr;
    bool attached_ = false;
};

TEST_F(VethTest, ClearsAProgramLeftByADeadSluicedButNotALiveOnes) {
    InNetns in(*gw_);
    ASSERT_TRUE(in.ok());
    const int ifindex = static_cast<int>(if_nametoindex("xdp0"));
    {
        LeftBehind live(ifindex, static_cast<uint32_t>(::getpid()));
        ASSERT_TRUE(live.attached());
        std::string error;
        EXPECT_EQ(XdpSteering::attach({.ifname = "xdp0", .udp_port = tunnel_port}, &error),
                  nullptr);
        EXPECT_NE(error.find("is in use by process " + std::to_string(::getpid()) + " (this one)"),
                  std::string::npos)
            << error;
    }
    ASSERT_EQ(xdp_on("xdp0").prog_id, 0u);
    // A child that has exited and been reaped: its pid names no process.
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    ASSERT_GT(child, 0);
    ::waitpid(child, nullptr, 0);
    LeftBehind dead(ifindex, static_cast<uint32_t>(child));
    ASSERT_TRUE(dead.attached());
    ASSERT_NE(xdp_on("xdp0").prog_id, 0u);
    std::string error;
    auto steering = XdpSteering::attach({.ifname = "xdp0", .udp_port = tunnel_port}, &error);
    ASSERT_NE(steering, nullptr) << error;
    EXPECT_EQ(xdp_on("xdp0").prog_id, 0u);  // cleared, for the PMD to attach ours
    EXPECT_EQ(steering->program_id(), 0u);
}

class Pool {
public:
    Pool() {
        static int n = 0;
        pool_ = rte_pktmbuf_pool_create(("xdp_test_" + std::to_string(n++)).c_str(), 8191, 0, 0,
                                        RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    }
    ~Pool() {
        if (pool_ != nullptr) rte_mempool_free(pool_);
    }
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;
    [[nodiscard]] rte_mempool* get() const { return pool_; }

private:
    rte_mempool* pool_ = nullptr;
};

std::optional<std::array<uint8_t, 6>> mac_of(const char* ifname) {
    Socket s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
    if (s.fd() < 0 || ::ioctl(s.fd(), SIOCGIFHWADDR, &ifr) != 0) return std::nullopt;
    std::array<uint8_t, 6> m{};
    std::memcpy(m.data(), ifr.ifr_hwaddr.sa_data, 6);
    return m;
}

std::string mac_text(const std::array<uint8_t, 6>& m) {
    char b[18];
    std::snprintf(b, sizeof(b), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                  m[5]);
    return b;
}

// What rx_burst brought: the frames sluice would see.
struct Seen {
    bool tunnel_udp = false;    // UDP to sluice_addr:tunnel_port with our payload
    bool arp_for_us = false;    // ARP whose target is sluice_addr
    bool host_traffic = false;  // anything to or from the host's address
};

void look(const rte_mbuf* m, const char* payload, Seen* seen) {
    const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
    const size_t n = rte_pktmbuf_data_len(m);
    if (n < 14) return;
    const uint16_t type = static_cast<uint16_t>(p[12] << 8 | p[13]);
    in_addr sluice{};
    in_addr host{};
    inet_pton(AF_INET, sluice_addr, &sluice);
    inet_pton(AF_INET, host_addr, &host);
    if (type == 0x0806 && n >= 42 && std::memcmp(p + 38, &sluice, 4) == 0) seen->arp_for_us = true;
    if (type != 0x0800 || n < 14 + 20 + 8) return;
    const uint8_t* ip = p + 14;
    if (std::memcmp(ip + 16, &host, 4) == 0 || std::memcmp(ip + 12, &host, 4) == 0)
        seen->host_traffic = true;
    const size_t ihl = (ip[0] & 0xf) * 4u;
    const uint8_t* udp = ip + ihl;
    const size_t len = std::strlen(payload);
    if (ip[9] == 17 && std::memcmp(ip + 16, &sluice, 4) == 0 &&
        (udp[2] << 8 | udp[3]) == tunnel_port && 14 + ihl + 8 + len <= n &&
        std::memcmp(udp + 8, payload, len) == 0)
        seen->tunnel_udp = true;
}

// Polls the port until `done` or `timeout`.
template <typename Done>
Seen receive(EthdevPort& port, const char* payload, Done done,
             std::chrono::milliseconds timeout = std::chrono::seconds(3)) {
    Seen seen;
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (!done(seen) && std::chrono::steady_clock::now() < until) {
        rte_mbuf* pkts[32];
        const uint16_t n = port.rx_burst(0, pkts, 32);
        for (uint16_t i = 0; i < n; ++i) look(pkts[i], payload, &seen);
        if (n > 0) rte_pktmbuf_free_bulk(pkts, n);
        if (n == 0) ::usleep(1000);
    }
    return seen;
}

// An ARP request from peer0 for `target`, through a packet socket.
bool send_arp_request(int packet_fd, int ifindex, const std::array<uint8_t, 6>& from,
                      const char* target) {
    FrameBuilder f;
    const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    f.raw(broadcast, 6).raw(from.data(), 6).u16(0x0806);
    f.u16(1).u16(0x0800).u8(6).u8(4).u16(1).raw(from.data(), 6).v4(peer_addr).zeros(6).v4(target);
    const Bytes frame = f.done();
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = ifindex;
    to.sll_halen = 6;
    std::memcpy(to.sll_addr, broadcast, 6);
    return ::sendto(packet_fd, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&to),
                    sizeof(to)) == static_cast<ssize_t>(frame.size());
}

// The whole driver: our program through net_af_xdp on xdp0, the kernel's
// traffic on the same interface untouched. `port_first`: which of the port
// and the steering goes first at the end (both orders must leave xdp0 bare).
void end_to_end(const Netns& gw, const Netns& peer, bool port_first) {
    ASSERT_TRUE(g_eal->started()) << g_eal->error();

    // The peer's sockets, made in its namespace.
    Socket udp_out;
    Socket tcp_out;
    Socket arp_out;
    int peer_ifindex = 0;
    std::array<uint8_t, 6> peer_mac{};
    {
        InNetns in(peer);
        ASSERT_TRUE(in.ok());
        udp_out = Socket(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        tcp_out = Socket(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        arp_out = Socket(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ARP)));
        ASSERT_GE(udp_out.fd(), 0);
        ASSERT_GE(tcp_out.fd(), 0);
        ASSERT_GE(arp_out.fd(), 0);
        peer_ifindex = static_cast<int>(if_nametoindex("peer0"));
        auto m = mac_of("peer0");
        ASSERT_TRUE(m.has_value());
        peer_mac = *m;
    }

    InNetns in(gw);
    ASSERT_TRUE(in.ok());
    // The host's own services on xdp0: UDP on the tunnel's port at the host's
    // address, and a TCP listener (think SSH).
    Socket host_udp(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    Socket host_tcp(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const sockaddr_in udp_at = sin(host_addr, tunnel_port);
    const sockaddr_in tcp_at = sin(host_addr, 2222);
    ASSERT_EQ(::bind(host_udp.fd(), reinterpret_cast<const sockaddr*>(&udp_at), sizeof(udp_at)), 0);
    ASSERT_EQ(::bind(host_tcp.fd(), reinterpret_cast<const sockaddr*>(&tcp_at), sizeof(tcp_at)), 0);
    ASSERT_EQ(::listen(host_tcp.fd(), 4), 0);

    std::string error;
    // veth sockets are copy mode anyway; force_copy is exercised on one run.
    const bool force_copy = !port_first;
    auto steering = XdpSteering::attach({.ifname = "xdp0",
                                         .udp_port = tunnel_port,
                                         .addresses = {address(sluice_addr)},
                                         .force_copy = force_copy},
                                        &error);
    ASSERT_NE(steering, nullptr) << error;
    EXPECT_EQ(xdp_on("xdp0").prog_id, 0u);  // the PMD attaches it
    const std::string devargs = steering->devargs(0);
    EXPECT_EQ(devargs.rfind(std::string("net_af_xdp0,iface=xdp0,start_queue=0,queue_count=1,") +
                                (force_copy ? "force_copy=1," : "") + "xdp_prog=/proc/self/fd/",
                            0),
              0u)
        << devargs;

    Pool pool;
    ASSERT_NE(pool.get(), nullptr);
    auto port = EthdevPort::open(devargs, {.queues = 1, .pool = pool.get()}, &error);
    ASSERT_NE(port, nullptr) << error;
    EXPECT_EQ(port->driver(), "net_af_xdp");

    const XdpAttachment attached = xdp_on("xdp0");
    ASSERT_NE(attached.prog_id, 0u);
    EXPECT_EQ(steering->program_id(), attached.prog_id);  // ours, found by its cookie
    EXPECT_EQ(steering->mode(), "native");                // veth has native XDP
    const XdpSteering::Counters before = steering->counters();

    // peer0 reaches sluice's address through a static neighbour entry (sluice,
    // not the kernel, would answer its ARP).
    const auto gw_mac = mac_of("xdp0");
    ASSERT_TRUE(gw_mac.has_value());
    ASSERT_EQ(sh("ip -n " + peer.name() + " neigh replace " + sluice_addr + " lladdr " +
                 mac_text(*gw_mac) + " dev peer0"),
              0);

    // 1. The tunnel's UDP to sluice's address arrives in rx_burst.
    const char* payload = "sluice-xdp-e2e";
    const sockaddr_in to_sluice = sin(sluice_addr, tunnel_port);
    ASSERT_EQ(::sendto(udp_out.fd(), payload, std::strlen(payload), 0,
                       reinterpret_cast<const sockaddr*>(&to_sluice), sizeof(to_sluice)),
              static_cast<ssize_t>(std::strlen(payload)));
    Seen seen = receive(*port, payload, [](const Seen& s) { return s.tunnel_udp; });
    EXPECT_TRUE(seen.tunnel_udp);

    // 2. ARP for sluice's address arrives in rx_burst too.
    ASSERT_TRUE(send_arp_request(arp_out.fd(), peer_ifindex, peer_mac, sluice_addr));
    seen = receive(*port, payload, [](const Seen& s) { return s.arp_for_us; });
    EXPECT_TRUE(seen.arp_for_us);

    // 3. The same port at the host's address is the kernel's.
    const char* host_payload = "for-the-host";
    const sockaddr_in to_host = sin(host_addr, tunnel_port);
    ASSERT_EQ(::sendto(udp_out.fd(), host_payload, std::strlen(host_payload), 0,
                       reinterpret_cast<const sockaddr*>(&to_host), sizeof(to_host)),
              static_cast<ssize_t>(std::strlen(host_payload)));
    ASSERT_TRUE(readable(host_udp.fd(), 3000)) << "the kernel's UDP socket got nothing";
    char buf[64] = {};
    EXPECT_EQ(::recv(host_udp.fd(), buf, sizeof(buf) - 1, 0),
              static_cast<ssize_t>(std::strlen(host_payload)));
    EXPECT_STREQ(buf, host_payload);

    // 4. TCP to the host's listener connects (SYN, the kernel's ARP, ACK all passed).
    const int rc =
        ::connect(tcp_out.fd(), reinterpret_cast<const sockaddr*>(&tcp_at), sizeof(tcp_at));
    ASSERT_TRUE(rc == 0 || errno == EINPROGRESS) << std::strerror(errno);
    pollfd p{tcp_out.fd(), POLLOUT, 0};
    ASSERT_EQ(::poll(&p, 1, 3000), 1) << "TCP connect to the host timed out";
    int so_error = -1;
    socklen_t len = sizeof(so_error);
    ASSERT_EQ(::getsockopt(tcp_out.fd(), SOL_SOCKET, SO_ERROR, &so_error, &len), 0);
    EXPECT_EQ(so_error, 0) << std::strerror(so_error);
    ASSERT_TRUE(readable(host_tcp.fd(), 1000));
    Socket accepted(::accept(host_tcp.fd(), nullptr, nullptr));
    EXPECT_GE(accepted.fd(), 0);

    // Nothing of the host's reached sluice's socket.
    seen = receive(
        *port, payload, [](const Seen&) { return false; }, std::chrono::milliseconds(300));
    EXPECT_FALSE(seen.host_traffic);

    const XdpSteering::Counters after = steering->counters();
    ::testing::Test::RecordProperty("steered", std::to_string(after.steered - before.steered));
    ::testing::Test::RecordProperty("passed", std::to_string(after.passed - before.passed));
    EXPECT_GE(after.steered - before.steered, 2u);  // the tunnel's UDP, the ARP
    EXPECT_GE(after.passed - before.passed, 4u);    // host UDP, SYN, ACK, ARP reply at least
    EXPECT_EQ(after.no_socket, before.no_socket);

    if (port_first) {
        port.reset();  // net_af_xdp detaches the program on close
        EXPECT_EQ(xdp_on("xdp0").prog_id, 0u);
        EXPECT_EQ(steering->program_id(), 0u);
        EXPECT_GE(steering->counters().steered, after.steered);  // the last counts stay readable
        steering.reset();
    } else {
        steering.reset();  // detaches ours under the open port
        EXPECT_EQ(xdp_on("xdp0").prog_id, 0u);
        port.reset();
    }
    EXPECT_EQ(xdp_on("xdp0").prog_id, 0u);
}

TEST_F(VethTest, SteersTheTunnelToNetAfXdpAndLeavesTheHostItsTraffic) {
    end_to_end(*gw_, *peer_, /*port_first=*/true);
}

TEST_F(VethTest, DetachesWhenTheSteeringGoesBeforeThePort) {
    end_to_end(*gw_, *peer_, /*port_first=*/false);
}

}  // namespace
}  // namespace sluice
