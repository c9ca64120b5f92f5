// The af_xdp driver's XDP side (DESIGN §5): DPDK's net_af_xdp on a kernel
// interface with sluice's own XDP program (af_xdp/sluice_xdp.bpf.c), which
// steers only the tunnel's UDP port (and, with addresses configured, ARP / ND
// / ICMP echo for them) to the AF_XDP socket and passes everything else to
// the kernel, so the host keeps its SSH on that interface.
//
// How the PMD gets our program. DPDK 22.11's net_af_xdp has exactly one way
// to take a custom program: the xdp_prog=PATH devarg. At its first queue
// set-up it opens PATH with libbpf, loads it, finds the map named "xsks_map",
// attaches the program itself (bpf_xdp_attach with XDP_FLAGS_UPDATE_IF_NOEXIST
// and no mode: native where the driver implements XDP, generic where it does
// not), creates its sockets through libxdp with XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD
// and puts each queue's socket in xsks_map. On close it detaches whatever
// program is on the interface. The use_pinned_map / uds_path devargs that let the PMD
// use a map someone else loaded are newer than 22.11 (the PMD here accepts
// iface, start_queue, queue_count, shared_umem, xdp_prog, busy_budget,
// force_copy). So a program that we attached ourselves, through libxdp or
// otherwise, cannot be shared with the PMD: its UPDATE_IF_NOEXIST attach would
// fail on it; and without xdp_prog the PMD has libxdp attach libxdp's own
// program, which sends every frame on the queue to the socket.
//
// Hence the design: the PMD loads and attaches our object, and we make sure
// that object is configured from its first frame.
//   - The object is compiled at build time (clang -target bpf) and embedded in
//     the binary (a generated header of its bytes), so sluiced needs no file
//     from the build tree or an install path.
//   - attach() bakes the configuration into a copy of the object: the program
//     reads it from a global in .data, whose bytes libbpf uses as the initial
//     value of the .data map. The copy lives in a memfd, and devargs() names
//     it as xdp_prog=/proc/self/fd/N; nothing is written to the filesystem.
//   - attach() also checks what it can before EAL touches the interface: the
//     interface exists, no other XDP program is attached (a sluice program
//     left behind by a sluiced that died is detached), and the kernel's
//     verifier accepts the configured object (loaded once with libbpf and
//     dropped; no attach, so a NIC is not reset twice).
//   - After EthdevPort::open(devargs()), the attached program is found on the
//     interface by id (bpf_xdp_query) and recognised by the cookie in its
//     configuration; counters() reads its per-CPU counters map.
//   - Destruction detaches the program only if it is still ours
//     (XDP_FLAGS_REPLACE with our program as the expected one), whichever of
//     this object and the EthdevPort goes first.
//
// Limits: the mode is the kernel's choice (mode() says which), and a driver
// that implements XDP but refuses it as configured (an MTU too large for it,
// say) fails the PMD's queue set-up: there is no fallback to generic mode
// (that would need the PMD to pass XDP_FLAGS_SKB_MODE); a socket is zero-copy only
// where the driver supports it and copy mode otherwise (veth: native XDP,
// copy mode); IPv4 fragments, IPv6 extension headers and VLAN-tagged frames
// always go to the kernel; up to 8 IPv4 and 8 IPv6 addresses and 64 queues.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dataplane/ip_prefix.hpp"

namespace sluice {

struct XdpSteeringConfig {
    std::string ifname{};
    uint16_t udp_port = 0;  // the tunnel's port, host byte order; must be set
    // Sluice's own addresses on the interface (not the host's). When any are
    // given, UDP to the port is steered only when sent to one of them.
    std::vector<IpAddress> addresses{};
    uint16_t queues = 1;  // queue pairs from queue 0: net_af_xdp's queue_count
    // With addresses: ARP, IPv6 ND and ICMP/ICMPv6 echo for them go to
    // sluice too (it answers them itself), not to the kernel.
    bool steer_neighbour = true;
    bool force_copy = false;  // net_af_xdp's force_copy=1: no zero-copy attempt
};

class XdpSteering {
public:
    static constexpr size_t max_v4_addresses = 8;
    static constexpr size_t max_v6_addresses = 8;
    static constexpr uint16_t max_queues = 64;  // entries of xsks_map

    // Checks the interface and prepares sluice's program with `config` baked
    // in (see above); null with `error` set to one line naming the interface
    // and the reason ("XDP refused on wan0: ...") when the interface does not
    // exist, another XDP program holds it, the kernel refuses the program, etc.
    static std::unique_ptr<XdpSteering> attach(const XdpSteeringConfig& config, std::string* error);

    // The vdev string for EthdevPort::open: net_af_xdp<index> on the interface
    // and queues, with xdp_prog= naming our configured object, so the PMD
    // loads ours and not libxdp's default program (which steals all traffic).
    [[nodiscard]] std::string devargs(unsigned index) const;

    struct Counters {
        uint64_t steered = 0;    // to an AF_XDP socket
        uint64_t passed = 0;     // not sluice's: to the kernel
        uint64_t no_socket = 0;  // sluice's, but no socket bound on the queue: to the kernel
    };
    // Summed over CPUs; zeros until the PMD has attached the program, the
    // last values once it is detached. This and the two below ask the kernel
    // each time (a netlink query and a few bpf calls): for the control
    // thread, one caller at a time.
    [[nodiscard]] Counters counters() const;

    // The id of our program while it is attached to the interface, else 0.
    [[nodiscard]] uint32_t program_id() const;
    // "native", "generic" or "offload" while ours is attached, else "".
    [[nodiscard]] std::string mode() const;

    [[nodiscard]] const std::string& ifname() const noexcept { return ifname_; }
    [[nodiscard]] int ifindex() const noexcept { return ifindex_; }

    ~XdpSteering();  // detaches our program if it is still attached
    XdpSteering(const XdpSteering&) = delete;
    XdpSteering& operator=(const XdpSteering&) = delete;

    // ---- the program itself (tests, diagnostics) --------------------------
    // The compiled object as built (ELF for the BPF target), embedded.
    static std::span<const uint8_t> program_object();
    // That object with `config` and `cookie` baked into its .data: what the
    // PMD loads. False with `error` set when the configuration does not fit
    // (too many addresses or queues, no port) or the object is not the
    // expected one.
    static bool configured_object(const XdpSteeringConfig& config, uint64_t cookie,
                                  std::vector<uint8_t>* out, std::string* error);

private:
    XdpSteering() = default;
    struct Found;  // the attached program, its maps, its mode
    bool find(Found* found) const;

    std::string ifname_;
    int ifindex_ = 0;
    uint16_t queues_ = 1;
    bool force_copy_ = false;
    uint64_t cookie_ = 0;
    int object_fd_ = -1;  // memfd holding the configured object
    // The counters map of the last program of ours seen attached, kept open
    // so the final counts survive the PMD detaching it.
    mutable int stats_fd_ = -1;
    mutable uint32_t stats_prog_id_ = 0;
};

}  // namespace sluice
