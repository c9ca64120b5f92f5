// Test bytes that end exactly where an unreadable page begins, so a parser
// that reads one byte past what it was given faults at once (frame_test,
// l2_frames_test).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace sluice::testing {

class GuardedBytes {
public:
    GuardedBytes(const uint8_t* data, size_t n) {
        const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
        size_ = (n + page - 1) / page * page + page;
        void* base =
            mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (base == MAP_FAILED) std::abort();
        base_ = static_cast<uint8_t*>(base);
        if (mprotect(base_ + size_ - page, page, PROT_NONE) != 0) std::abort();
        data_ = base_ + size_ - page - n;
        if (n > 0) std::memcpy(data_, data, n);
    }
    explicit GuardedBytes(const std::vector<uint8_t>& b) : GuardedBytes(b.data(), b.size()) {}
    ~GuardedBytes() { munmap(base_, size_); }
    GuardedBytes(const GuardedBytes&) = delete;
    GuardedBytes& operator=(const GuardedBytes&) = delete;
    // Writable: in-place rewriters are tested at the edge too.
    [[nodiscard]] uint8_t* data() const { return data_; }

private:
    uint8_t* base_ = nullptr;
    uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace sluice::testing
