// Reading whole files for the configuration loader; see config_files.hpp.
#include "control/config_files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <system_error>

#include "dataplane/keypair.hpp"  // secure_wipe

namespace sluice::config_detail {

FileDescriptor::~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
}

namespace {

std::string errno_text(int err) {
    return std::error_code(err, std::generic_category()).message();
}

}  // namespace

// O_NONBLOCK and the S_ISREG check keep a path such as /dev/stdin or a FIFO
// from blocking the loader.
int open_regular(const std::string& path, struct stat& st, std::string& why_not) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        why_not = errno_text(errno);
        return -1;
    }
    if (::fstat(fd, &st) != 0) {
        why_not = errno_text(errno);
        ::close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        why_not = S_ISDIR(st.st_mode) ? "a directory" : "not a regular file";
        ::close(fd);
        return -1;
    }
    return fd;
}

bool read_all(int fd, char* buf, size_t limit, size_t& got, std::string& why_not) {
    got = 0;
    while (got < limit) {
        const ssize_t r = ::read(fd, buf + got, limit - got);
        if (r < 0) {
            if (errno == EINTR) continue;
            why_not = errno_text(errno);
            return false;
        }
        if (r == 0) break;
        got += static_cast<size_t>(r);
    }
    return true;
}

std::string mode_text(mode_t mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
    return buf;
}

void wipe_string(std::string& s) {
    s.resize(s.capacity());
    secure_wipe(s.data(), s.size());
    s.clear();
}

}  // namespace sluice::config_detail
