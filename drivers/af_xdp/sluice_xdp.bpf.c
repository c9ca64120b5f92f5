// sluice's XDP program for the af_xdp driver (DESIGN §5): steers only what is
// sluice's to the AF_XDP socket and passes every other frame to the kernel,
// so the host keeps its SSH (and everything else) on the same interface.
//
// Steered (bpf_redirect_map into xsks_map at the receive queue, XDP_PASS when
// no socket is bound on that queue):
//   - Ethernet (untagged) IPv4/IPv6 UDP to the tunnel's port, unfragmented,
//     IPv6 without extension headers; when any addresses are configured the
//     destination must also be one of them;
//   - when addresses are configured and steer_neighbour is set: ARP whose
//     target IP is ours (requests for us and replies to our requests), ICMPv6
//     neighbour solicitations for our addresses and advertisements for or to
//     them, and ICMP/ICMPv6 echo requests to our addresses.
// Everything else, truncated frames included, is XDP_PASS.
//
// The configuration is the global `sluice_config` in .data: libbpf turns .data
// into a one-element array map whose initial value is the section's bytes, so
// drivers/af_xdp/xdp_steering.cpp bakes the configuration into the object
// before DPDK's net_af_xdp loads it (xdp_prog=), and the program steers right
// from its first frame. The layout is shared with xdp_steering.cpp
// (XdpConfigBlob): change both together.
//
// The map named xsks_map is what net_af_xdp looks for in a custom program: it
// puts each queue's socket there.

// The kernel's headers before libbpf's, which use their types.
// clang-format off
#include <linux/bpf.h>
#include <linux/icmpv6.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
// clang-format on

#define SLUICE_XDP_MAX_V4 8
#define SLUICE_XDP_MAX_V6 8
#define SLUICE_XDP_MAGIC 0x53584450u /* "SXDP" */
#define SLUICE_XDP_QUEUES 64         /* receive queues a socket can be bound on */

struct sluice_xdp_config {
    __u32 magic;          /* SLUICE_XDP_MAGIC: the loader checks the layout */
    __be16 udp_port;      /* 0: nothing configured, everything passes */
    __u8 v4_count;        /* entries used in v4[] */
    __u8 v6_count;        /* entries used in v6[] */
    __u8 steer_neighbour; /* ARP / ND / echo for our addresses */
    __u8 reserved[3];
    __u32 owner_pid; /* the sluiced that configured it */
    __u64 cookie;    /* names one XdpSteering instance */
    __be32 v4[SLUICE_XDP_MAX_V4];
    __be32 v6[SLUICE_XDP_MAX_V6][4];
};
_Static_assert(sizeof(struct sluice_xdp_config) == 184, "layout shared with xdp_steering.cpp");

/* Non-zero initialiser and explicit section: it must be file bytes to patch. */
struct sluice_xdp_config sluice_config SEC(".data") = {.magic = SLUICE_XDP_MAGIC};

struct sluice_xdp_stats {
    __u64 steered;   /* redirected to a socket */
    __u64 passed;    /* not ours: the kernel got it */
    __u64 no_socket; /* ours, but no socket on that queue: the kernel got it */
};

struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, SLUICE_XDP_QUEUES);
    __type(key, __u32);
    __type(value, __u32);
} xsks_map SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct sluice_xdp_stats);
} sluice_stats SEC(".maps");

/* ARP for IPv4 over Ethernet (RFC 826). */
struct arp_eth_ipv4 {
    __be16 hrd;
    __be16 pro;
    __u8 hln;
    __u8 pln;
    __be16 op;
    __u8 sha[ETH_ALEN];
    __u8 spa[4];
    __u8 tha[ETH_ALEN];
    __u8 tpa[4];
} __attribute__((packed));

enum { PASS = 0, STEER = 1 };

/* <linux/icmp.h> pulls in glibc's socket headers, which the BPF target lacks. */
struct icmp_echo_hdr {
    __u8 type;
    __u8 code;
    __sum16 checksum;
    __be16 id;
    __be16 sequence;
};

#define ICMP_ECHO_REQ 8
#define ICMPV6_ECHO_REQ 128
#define ND_NEIGHBOUR_SOLICIT 135
#define ND_NEIGHBOUR_ADVERT 136

static __always_inline int ours_v4(__be32 addr) {
    __u32 n = sluice_config.v4_count;
#pragma unroll
    for (__u32 i = 0; i < SLUICE_XDP_MAX_V4; i++)
        if (i < n && sluice_config.v4[i] == addr) return 1;
    return 0;
}

/* `addr` points at 16 bytes the caller has bounds-checked. */
static __always_inline int ours_v6(const void* addr) {
    __be32 a[4];
    __builtin_memcpy(a, addr, sizeof(a));
    __u32 n = sluice_config.v6_count;
#pragma unroll
    for (__u32 i = 0; i < SLUICE_XDP_MAX_V6; i++)
        if (i < n && sluice_config.v6[i][0] == a[0] && sluice_config.v6[i][1] == a[1] &&
            sluice_config.v6[i][2] == a[2] && sluice_config.v6[i][3] == a[3])
            return 1;
    return 0;
}

static __always_inline int decide_ipv4(void* l3, void* end, int addrs, int neigh) {
    struct iphdr* ip = l3;
    if ((void*)(ip + 1) > end) return PASS;
    if (ip->version != 4 || ip->ihl < 5) return PASS;
    /* Fragments (MF or an offset) stay with the kernel, which reassembles. */
    if (ip->frag_off & bpf_htons(0x3fff)) return PASS;
    void* l4 = (void*)ip + ip->ihl * 4;
    if (ip->protocol == IPPROTO_UDP) {
        struct udphdr* udp = l4;
        if ((void*)(udp + 1) > end) return PASS;
        if (udp->dest != sluice_config.udp_port) return PASS;
        return !addrs || ours_v4(ip->daddr) ? STEER : PASS;
    }
    if (ip->protocol == IPPROTO_ICMP && neigh) {
        struct icmp_echo_hdr* icmp = l4;
        if ((void*)(icmp + 1) > end) return PASS;
        return icmp->type == ICMP_ECHO_REQ && ours_v4(ip->daddr) ? STEER : PASS;
    }
    return PASS;
}

static __always_inline int decide_arp(void* l3, void* end, int neigh) {
    struct arp_eth_ipv4* arp = l3;
    if (!neigh || (void*)(arp + 1) > end) return PASS;
    if (arp->hrd != bpf_htons(1) || arp->pro != bpf_htons(ETH_P_IP) || arp->hln != ETH_ALEN ||
        arp->pln != 4)
        return PASS;
    __be32 tpa;
    __builtin_memcpy(&tpa, arp->tpa, sizeof(tpa));
    return ours_v4(tpa) ? STEER : PASS;
}

static __always_inline int decide_ipv6(void* l3, void* end, int addrs, int neigh) {
    struct ipv6hdr* ip6 = l3;
    if ((void*)(ip6 + 1) > end) return PASS;
    if (ip6->version != 6) return PASS;
    void* l4 = ip6 + 1;
    /* Extension headers (fragments among them) are not walked: the kernel gets those. */
    if (ip6->nexthdr == IPPROTO_UDP) {
        struct udphdr* udp = l4;
        if ((void*)(udp + 1) > end) return PASS;
        if (udp->dest != sluice_config.udp_port) return PASS;
        return !addrs || ours_v6(&ip6->daddr) ? STEER : PASS;
    }
    if (ip6->nexthdr == IPPROTO_ICMPV6 && neigh) {
        struct icmp6hdr* icmp = l4;
        if ((void*)(icmp + 1) > end) return PASS;
        if (icmp->icmp6_type == ICMPV6_ECHO_REQ) return ours_v6(&ip6->daddr) ? STEER : PASS;
        if (icmp->icmp6_type == ND_NEIGHBOUR_SOLICIT || icmp->icmp6_type == ND_NEIGHBOUR_ADVERT) {
            /* RFC 4861: the target address follows the 8-byte header. */
            void* target = icmp + 1;
            if (target + 16 > end) return PASS;
            if (ours_v6(target)) return STEER;
            /* An advertisement answering our solicitation is sent to us. */
            return icmp->icmp6_type == ND_NEIGHBOUR_ADVERT && ours_v6(&ip6->daddr) ? STEER : PASS;
        }
    }
    return PASS;
}

static __always_inline int decide(void* data, void* end) {
    struct ethhdr* eth = data;
    if ((void*)(eth + 1) > end) return PASS;
    int addrs = sluice_config.v4_count + sluice_config.v6_count > 0;
    int neigh = addrs && sluice_config.steer_neighbour;
    void* l3 = eth + 1;
    /* VLAN-tagged frames are not looked into. */
    switch (eth->h_proto) {
        case bpf_htons(ETH_P_IP):
            return decide_ipv4(l3, end, addrs, neigh);
        case bpf_htons(ETH_P_IPV6):
            return decide_ipv6(l3, end, addrs, neigh);
        case bpf_htons(ETH_P_ARP):
            return decide_arp(l3, end, neigh);
        default:
            return PASS;
    }
}

SEC("xdp")
int sluice_xdp(struct xdp_md* ctx) {
    void* data = (void*)(long)ctx->data;
    void* end = (void*)(long)ctx->data_end;
    __u32 key = 0;
    struct sluice_xdp_stats* stats = bpf_map_lookup_elem(&sluice_stats, &key);

    if (sluice_config.udp_port != 0 && decide(data, end) == STEER) {
        /* No socket on this queue: the flags' action, the kernel gets it. */
        long action = bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
        if (stats) {
            if (action == XDP_REDIRECT)
                stats->steered++;
            else
                stats->no_socket++;
        }
        return (int)action;
    }
    if (stats) stats->passed++;
    return XDP_PASS;
}

/* Dual licensed so the kernel treats it as GPL-compatible. */
char LICENSE[] SEC("license") = "Dual MIT/GPL";
