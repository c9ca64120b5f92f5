#include "drivers/af_xdp/xdp_steering.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <elf.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <utility>

// sluice_xdp_object_bytes: af_xdp/sluice_xdp.bpf.c as compiled at build time
// (drivers/meson.build generates this header from the object).
#include "sluice_xdp_object.h"

namespace sluice {

namespace {

static_assert(std::endian::native == std::endian::little,
              "the embedded object is for the little-endian BPF target");

// Mirrors struct sluice_xdp_config in sluice_xdp.bpf.c (both assert 184 bytes).
constexpr uint32_t config_magic = 0x53584450u;  // "SXDP"
struct XdpConfigBlob {
    uint32_t magic = config_magic;
    uint16_t udp_port_be = 0;
    uint8_t v4_count = 0;
    uint8_t v6_count = 0;
    uint8_t steer_neighbour = 0;
    uint8_t reserved[3] = {};
    uint32_t owner_pid = 0;
    uint64_t cookie = 0;
    uint32_t v4[XdpSteering::max_v4_addresses] = {};
    uint32_t v6[XdpSteering::max_v6_addresses][4] = {};
};
static_assert(sizeof(XdpConfigBlob) == 184, "layout shared with sluice_xdp.bpf.c");

// Mirrors struct sluice_xdp_stats: the per-CPU counters map's value.
struct XdpStatsValue {
    uint64_t steered;
    uint64_t passed;
    uint64_t no_socket;
};

constexpr const char* config_symbol = "sluice_config";
constexpr const char* stats_map_name = "sluice_stats";
constexpr const char* program_name = "sluice_xdp";

// A file descriptor closed on scope exit.
class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Fd& operator=(Fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    ~Fd() { reset(); }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    [[nodiscard]] int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }

private:
    int fd_ = -1;
};

std::string errno_text(int err) {
    return std::strerror(err < 0 ? -err : err);
}

// libbpf's messages, caught while we call it, so that a failure becomes one
// line of our error rather than lines on stderr. Outside our calls (the PMD
// loading the program) libbpf's own printer is left in place.
thread_local std::string* libbpf_sink = nullptr;

int catch_libbpf(enum libbpf_print_level level, const char* format, va_list args) {
    if (level == LIBBPF_DEBUG || libbpf_sink == nullptr) return 0;
    char line[512];
    const int n = std::vsnprintf(line, sizeof(line), format, args);
    if (n <= 0) return 0;
    std::string text(line);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    if (text.rfind("libbpf: ", 0) == 0) text.erase(0, 8);
    // The first warning says what failed; the verifier's log lines follow it.
    if (libbpf_sink->empty() && !text.empty()) *libbpf_sink = text;
    return 0;
}

class LibbpfCatch {
public:
    LibbpfCatch() : previous_(libbpf_set_print(catch_libbpf)) { libbpf_sink = &caught_; }
    ~LibbpfCatch() {
        libbpf_sink = nullptr;
        libbpf_set_print(previous_);
    }
    LibbpfCatch(const LibbpfCatch&) = delete;
    LibbpfCatch& operator=(const LibbpfCatch&) = delete;
    [[nodiscard]] const std::string& caught() const { return caught_; }

private:
    libbpf_print_fn_t previous_;
    std::string caught_;
};

// Where `name`'s bytes lie in the ELF image: the offset of a defined object
// symbol of `size` bytes in a section with file contents. 0 when absent.
size_t find_symbol(const std::vector<uint8_t>& elf, const char* name, size_t size,
                   std::string* error) {
    auto read = [&elf](uint64_t off, auto* out) {
        if (off > elf.size() || elf.size() - off < sizeof(*out)) return false;
        std::memcpy(out, elf.data() + off, sizeof(*out));
        return true;
    };
    Elf64_Ehdr eh{};
    if (!read(0, &eh) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
        eh.e_machine != EM_BPF || eh.e_shentsize != sizeof(Elf64_Shdr)) {
        *error = "the embedded XDP object is not a little-endian BPF ELF object";
        return 0;
    }
    auto section = [&](uint64_t i, Elf64_Shdr* sh) {
        return i < eh.e_shnum && read(eh.e_shoff + i * sizeof(Elf64_Shdr), sh);
    };
    const size_t name_len = std::strlen(name);
    for (uint64_t i = 0; i < eh.e_shnum; ++i) {
        Elf64_Shdr symtab{};
        Elf64_Shdr strtab{};
        if (!section(i, &symtab) || symtab.sh_type != SHT_SYMTAB) continue;
        if (!section(symtab.sh_link, &strtab)) break;
        for (uint64_t off = 0; off + sizeof(Elf64_Sym) <= symtab.sh_size;
             off += sizeof(Elf64_Sym)) {
            Elf64_Sym sym{};
            if (!read(symtab.sh_offset + off, &sym)) break;
            const uint64_t at = strtab.sh_offset + sym.st_name;
            if (sym.st_name >= strtab.sh_size || strtab.sh_size - sym.st_name <= name_len ||
                at + name_len + 1 > elf.size() ||
                std::memcmp(elf.data() + at, name, name_len + 1) != 0)
                continue;
            Elf64_Shdr data{};
            if (!section(sym.st_shndx, &data) || data.sh_type != SHT_PROGBITS ||
                sym.st_size != size || sym.st_value > data.sh_size ||
                data.sh_size - sym.st_value < size ||
                data.sh_offset + sym.st_value + size > elf.size()) {
                *error = std::string("the embedded XDP object's ") + name +
                         " is not the expected initialised data";
                return 0;
            }
            return data.sh_offset + sym.st_value;
        }
    }
    *error = std::string("the embedded XDP object has no ") + name;
    return 0;
}

bool map_info(int fd, bpf_map_info* info) {
    *info = {};
    __u32 len = sizeof(*info);
    return bpf_obj_get_info_by_fd(fd, info, &len) == 0;
}

bool ends_with(const char* s, const char* suffix) {
    const size_t n = std::strlen(s);
    const size_t m = std::strlen(suffix);
    return n >= m && std::strcmp(s + n - m, suffix) == 0;
}

// What is attached to an interface, looked at as a possible sluice program.
struct Attached {
    uint32_t prog_id = 0;  // 0: nothing attached
    uint32_t mode_flag = 0;
    std::string mode;
    std::string name;
    Fd prog;
    Fd config_map;
    Fd stats_map;
    XdpConfigBlob config{};
    bool sluice = false;  // ours in kind: sluice's program with a readable configuration
};

// Fills `out` with the XDP program on `ifindex`; false with `error` when the
// kernel cannot be asked.
bool inspect(int ifindex, Attached* out, std::string* error) {
    bpf_xdp_query_opts q{};
    q.sz = sizeof(q);
    if (const int rc = bpf_xdp_query(ifindex, 0, &q); rc != 0) {
        *error = "cannot query its XDP programs (" + errno_text(rc) + ")";
        return false;
    }
    if (q.drv_prog_id != 0) {
        out->prog_id = q.drv_prog_id;
        out->mode_flag = XDP_FLAGS_DRV_MODE;
        out->mode = "native";
    } else if (q.skb_prog_id != 0) {
        out->prog_id = q.skb_prog_id;
        out->mode_flag = XDP_FLAGS_SKB_MODE;
        out->mode = "generic";
    } else if (q.hw_prog_id != 0) {
        out->prog_id = q.hw_prog_id;
        out->mode_flag = XDP_FLAGS_HW_MODE;
        out->mode = "offload";
    } else {
        return true;
    }
    out->prog = Fd(bpf_prog_get_fd_by_id(out->prog_id));
    if (out->prog.get() < 0) return true;  // gone meanwhile, or not ours to open
    bpf_prog_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(out->prog.get(), &info, &len) != 0) return true;
    out->name = info.name;
    std::vector<__u32> map_ids(info.nr_map_ids);
    info = {};
    info.nr_map_ids = static_cast<__u32>(map_ids.size());
    info.map_ids = reinterpret_cast<uintptr_t>(map_ids.data());
    len = sizeof(info);
    if (map_ids.empty() || bpf_obj_get_info_by_fd(out->prog.get(), &info, &len) != 0) return true;
    map_ids.resize(std::min<size_t>(map_ids.size(), info.nr_map_ids));
    for (const __u32 id : map_ids) {
        Fd map(bpf_map_get_fd_by_id(id));
        bpf_map_info mi{};
        if (map.get() < 0 || !map_info(map.get(), &mi)) continue;
        // libbpf names the .data map "<object name prefix>.data".
        if (mi.type == BPF_MAP_TYPE_ARRAY && mi.value_size == sizeof(XdpConfigBlob) &&
            mi.max_entries == 1 && ends_with(mi.name, ".data"))
            out->config_map = std::move(map);
        else if (mi.type == BPF_MAP_TYPE_PERCPU_ARRAY &&
                 std::strcmp(mi.name, stats_map_name) == 0 &&
                 mi.value_size == sizeof(XdpStatsValue))
            out->stats_map = std::move(map);
    }
    if (out->config_map.get() >= 0) {
        const __u32 key = 0;
        XdpConfigBlob blob{};
        if (bpf_map_lookup_elem(out->config_map.get(), &key, &blob) == 0 &&
            blob.magic == config_magic) {
            out->config = blob;
            out->sluice = std::strcmp(out->name.c_str(), program_name) == 0;
        }
    }
    return true;
}

// Detaches exactly the program `a` describes: the kernel refuses (EEXIST)
// when another one has replaced it meanwhile.
int detach(int ifindex, const Attached& a) {
    bpf_xdp_attach_opts o{};
    o.sz = sizeof(o);
    o.old_prog_fd = a.prog.get();
    return bpf_xdp_detach(ifindex, a.mode_flag | XDP_FLAGS_REPLACE, &o);
}

// Whether the sluiced that configured a program still runs. A pid is only
// meaningful in our pid namespace: a sluiced in another one reads as gone.
bool process_alive(uint32_t pid) {
    if (pid == 0) return false;
    return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

}  // namespace

struct XdpSteering::Found {
    Attached attached;
};

std::span<const uint8_t> XdpSteering::program_object() {
    return {sluice_xdp_object_bytes, sizeof(sluice_xdp_object_bytes)};
}

bool XdpSteering::configured_object(const XdpSteeringConfig& config, uint64_t cookie,
                                    std::vector<uint8_t>* out, std::string* error) {
    if (config.udp_port == 0) {
        *error = "no UDP port to steer";
        return false;
    }
    if (config.queues == 0 || config.queues > max_queues) {
        *error = std::to_string(config.queues) + " queues asked for, the program serves 1 to " +
                 std::to_string(max_queues);
        return false;
    }
    XdpConfigBlob blob;
    blob.udp_port_be = static_cast<uint16_t>((config.udp_port >> 8) | (config.udp_port << 8));
    blob.steer_neighbour = config.steer_neighbour ? 1 : 0;
    blob.owner_pid = static_cast<uint32_t>(::getpid());
    blob.cookie = cookie;
    size_t v4 = 0;
    size_t v6 = 0;
    for (const IpAddress& a : config.addresses) {
        if (a.family == IpFamily::v4) {
            if (v4 == max_v4_addresses) {
                *error = "more than " + std::to_string(max_v4_addresses) + " IPv4 addresses";
                return false;
            }
            std::memcpy(&blob.v4[v4++], a.addr.data(), 4);
        } else {
            if (v6 == max_v6_addresses) {
                *error = "more than " + std::to_string(max_v6_addresses) + " IPv6 addresses";
                return false;
            }
            std::memcpy(blob.v6[v6++], a.addr.data(), 16);
        }
    }
    blob.v4_count = static_cast<uint8_t>(v4);
    blob.v6_count = static_cast<uint8_t>(v6);

    const std::span<const uint8_t> object = program_object();
    std::vector<uint8_t> elf(object.begin(), object.end());
    const size_t at = find_symbol(elf, config_symbol, sizeof(XdpConfigBlob), error);
    if (at == 0) return false;
    uint32_t magic = 0;
    std::memcpy(&magic, elf.data() + at, sizeof(magic));
    if (magic != config_magic) {
        *error = "the embedded XDP object's configuration has another layout";
        return false;
    }
    std::memcpy(elf.data() + at, &blob, sizeof(blob));
    *out = std::move(elf);
    return true;
}

std::unique_ptr<XdpSteering> XdpSteering::attach(const XdpSteeringConfig& config,
                                                 std::string* error) {
    const std::string what =
        "XDP refused on " + (config.ifname.empty() ? "''" : config.ifname) + ": ";
    if (config.ifname.empty() || config.ifname.size() >= IF_NAMESIZE ||
        config.ifname.find_first_of(",= ") != std::string::npos) {
        *error = what + "not an interface name";
        return nullptr;
    }
    const unsigned ifindex = if_nametoindex(config.ifname.c_str());
    if (ifindex == 0) {
        *error = what + (errno == ENODEV ? std::string("no such interface") : errno_text(errno));
        return nullptr;
    }

    std::unique_ptr<XdpSteering> s(new XdpSteering);
    s->ifname_ = config.ifname;
    s->ifindex_ = static_cast<int>(ifindex);
    s->queues_ = config.queues;
    s->force_copy_ = config.force_copy;
    while (s->cookie_ == 0) {
        if (getrandom(&s->cookie_, sizeof(s->cookie_), 0) != sizeof(s->cookie_)) {
            *error = what + "no random cookie (" + errno_text(errno) + ")";
            return nullptr;
        }
    }
    std::vector<uint8_t> object;
    std::string why;
    if (!configured_object(config, s->cookie_, &object, &why)) {
        *error = what + why;
        return nullptr;
    }

    LibbpfCatch caught;
    // The interface must be free: net_af_xdp attaches with UPDATE_IF_NOEXIST.
    // A sluice program whose sluiced is gone is ours to clear.
    Attached present;
    if (!inspect(s->ifindex_, &present, &why)) {
        *error = what + why;
        return nullptr;
    }
    if (present.prog_id != 0) {
        const std::string which = "XDP program " + std::to_string(present.prog_id) +
                                  (present.name.empty() ? "" : " '" + present.name + "'") + " (" +
                                  present.mode + " mode)";
        if (!present.sluice) {
            *error = what + "another " + which + " is attached; remove it first (ip link set dev " +
                     config.ifname + " xdp off)";
            return nullptr;
        }
        const uint32_t pid = present.config.owner_pid;
        if (process_alive(pid)) {
            *error = what + "sluice's " + which + " is in use by process " + std::to_string(pid) +
                     (pid == static_cast<uint32_t>(::getpid()) ? " (this one)" : "");
            return nullptr;
        }
        if (const int rc = detach(s->ifindex_, present); rc != 0) {
            *error = what + "cannot remove the " + which + " left by process " +
                     std::to_string(pid) + " (" + errno_text(rc) + ")";
            return nullptr;
        }
    }

    // The kernel's verifier sees the configured program now rather than at
    // the PMD's queue set-up, where a refusal reads "cannot set up queue 0".
    {
        bpf_object_open_opts o{};
        o.sz = sizeof(o);
        o.object_name = program_name;
        bpf_object* obj = bpf_object__open_mem(object.data(), object.size(), &o);
        if (obj == nullptr) {
            const int err = errno;
            *error = what + "cannot open sluice's XDP program (" +
                     (caught.caught().empty() ? errno_text(err) : caught.caught()) + ")";
            return nullptr;
        }
        const int rc = bpf_object__load(obj);
        bpf_object__close(obj);
        if (rc == -EPERM) {
            *error = what + "the kernel does not load sluice's XDP program (" + errno_text(rc) +
                     ": loading, attaching and finding it again need root)";
            return nullptr;
        }
        if (rc != 0) {
            *error = what + "the kernel does not load sluice's XDP program (" +
                     (caught.caught().empty() ? errno_text(rc)
                                              : caught.caught() + ": " + errno_text(rc)) +
                     ")";
            return nullptr;
        }
    }

    // The PMD opens the object by path: a sealed memfd, /proc/self/fd/N.
    Fd mem(memfd_create("sluice_xdp.o", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (mem.get() < 0) {
        *error = what + "no memfd for the XDP object (" + errno_text(errno) + ")";
        return nullptr;
    }
    for (size_t done = 0; done < object.size();) {
        const ssize_t n = ::write(mem.get(), object.data() + done, object.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            *error = what + "cannot write the XDP object (" + errno_text(errno) + ")";
            return nullptr;
        }
        done += static_cast<size_t>(n);
    }
    fcntl(mem.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
    s->object_fd_ = mem.release();
    return s;
}

std::string XdpSteering::devargs(unsigned index) const {
    std::string d = "net_af_xdp" + std::to_string(index) + ",iface=" + ifname_ +
                    ",start_queue=0,queue_count=" + std::to_string(queues_);
    if (force_copy_) d += ",force_copy=1";
    d += ",xdp_prog=/proc/self/fd/" + std::to_string(object_fd_);
    return d;
}

bool XdpSteering::find(Found* found) const {
    std::string why;
    Attached& a = found->attached;
    return inspect(ifindex_, &a, &why) && a.prog_id != 0 && a.sluice && a.config.cookie == cookie_;
}

XdpSteering::Counters XdpSteering::counters() const {
    Found f;
    if (find(&f) && f.attached.prog_id != stats_prog_id_ && f.attached.stats_map.get() >= 0) {
        if (stats_fd_ >= 0) ::close(stats_fd_);
        stats_fd_ = f.attached.stats_map.release();
        stats_prog_id_ = f.attached.prog_id;
    }
    Counters c;
    if (stats_fd_ < 0) return c;
    const int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0) return c;
    std::vector<XdpStatsValue> per_cpu(static_cast<size_t>(cpus));
    const __u32 key = 0;
    if (bpf_map_lookup_elem(stats_fd_, &key, per_cpu.data()) != 0) return c;
    for (const XdpStatsValue& v : per_cpu) {
        c.steered += v.steered;
        c.passed += v.passed;
        c.no_socket += v.no_socket;
    }
    return c;
}

uint32_t XdpSteering::program_id() const {
    Found f;
    return find(&f) ? f.attached.prog_id : 0;
}

std::string XdpSteering::mode() const {
    Found f;
    return find(&f) ? f.attached.mode : std::string();
}

XdpSteering::~XdpSteering() {
    Found f;
    if (find(&f)) detach(ifindex_, f.attached);
    if (stats_fd_ >= 0) ::close(stats_fd_);
    if (object_fd_ >= 0) ::close(object_fd_);
}

}  // namespace sluice
