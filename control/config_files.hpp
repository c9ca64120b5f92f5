// Reading whole files for the configuration loader (internal to the
// sluice_config library): the configuration file itself and key files. Both
// may hold secrets, so their bytes are wiped after use.
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <string>

namespace sluice::config_detail {

// Closes the descriptor when it goes away; -1 holds nothing.
class FileDescriptor {
public:
    explicit FileDescriptor(int fd) : fd_(fd) {}
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    ~FileDescriptor();
    int get() const { return fd_; }

private:
    int fd_;
};

// Opens a file that is to be read whole: a descriptor and its stat, or -1
// with a reason ("No such file or directory", "a directory", ...). It never
// blocks, whatever the path names (/dev/stdin, a FIFO).
int open_regular(const std::string& path, struct stat& st, std::string& why_not);

// Reads up to `limit` bytes; false with a reason on an error.
bool read_all(int fd, char* buf, size_t limit, size_t& got, std::string& why_not);

// Permission bits as chmod takes them: "0644".
std::string mode_text(mode_t mode);

// Overwrites a string's whole buffer, not only its current size.
void wipe_string(std::string& s);

}  // namespace sluice::config_detail
