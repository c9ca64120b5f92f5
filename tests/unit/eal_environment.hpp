// EAL once per test process, for the unit tests that need mbufs and rings:
// started before the first test, with the mbuf endpoint field registered,
// and cleaned up after the last.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "drivers/eal.hpp"
#include "drivers/mbuf_endpoint.hpp"

namespace sluice {

class EalEnvironment : public ::testing::Environment {
public:
    // root_only: as any other user every test of the file skips, so EAL is
    // not started, and a failure to start is left to the tests to report.
    EalEnvironment(std::string name, size_t memory_mb, bool root_only = false)
        : name_(std::move(name)), memory_mb_(memory_mb), root_only_(root_only) {}

    void SetUp() override {
        if (root_only_ && geteuid() != 0) return;
        EalOptions o;
        o.process_name = name_;
        o.memory_mb = memory_mb_;
        o.telemetry = false;
        eal_ = Eal::start(o, &error_);
        if (!root_only_) {
            ASSERT_NE(eal_, nullptr) << error_;
            ASSERT_TRUE(register_mbuf_endpoint());
        }
    }
    void TearDown() override { eal_.reset(); }

    [[nodiscard]] bool started() const noexcept { return eal_ != nullptr; }
    [[nodiscard]] const std::string& error() const noexcept { return error_; }

    // Registers one for this test program; call once, at namespace scope.
    static EalEnvironment* add(std::string name, size_t memory_mb, bool root_only = false) {
        return static_cast<EalEnvironment*>(::testing::AddGlobalTestEnvironment(
            new EalEnvironment(std::move(name), memory_mb, root_only)));
    }

private:
    std::string name_;
    size_t memory_mb_;
    bool root_only_;
    std::unique_ptr<Eal> eal_;
    std::string error_;
};

}  // namespace sluice
