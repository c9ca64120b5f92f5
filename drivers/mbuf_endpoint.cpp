#include "drivers/mbuf_endpoint.hpp"

#include <arpa/inet.h>
#include <rte_mbuf_dyn.h>

namespace sluice {

int g_mbuf_endpoint_offset = -1;

bool register_mbuf_endpoint() {
    if (g_mbuf_endpoint_offset >= 0) return true;
    static const rte_mbuf_dynfield kField = {"sluice_dynfield_endpoint", sizeof(MbufEndpoint),
                                             alignof(MbufEndpoint), 0};
    const int offset = rte_mbuf_dynfield_register(&kField);
    if (offset < 0) return false;
    g_mbuf_endpoint_offset = offset;
    return true;
}

std::string MbufEndpoint::to_string() const {
    char text[INET6_ADDRSTRLEN] = "";
    if (family == 4) {
        inet_ntop(AF_INET, addr, text, sizeof text);
        return std::string(text) + ":" + std::to_string(port);
    }
    if (family == 6) {
        inet_ntop(AF_INET6, addr, text, sizeof text);
        return "[" + std::string(text) + "]:" + std::to_string(port);
    }
    return "(none)";
}

}  // namespace sluice
