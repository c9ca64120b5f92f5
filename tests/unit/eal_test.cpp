// EAL start-up: the plan for each kind of host (pure), then a real start in
// plain memory with a mempool, as every sluice process will do it.
#include "drivers/eal.hpp"

#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <filesystem>

#include "drivers/mbuf_endpoint.hpp"

namespace sluice {
namespace {

bool has(const EalPlan& plan, const std::string& arg) {
    return std::find(plan.args.begin(), plan.args.end(), arg) != plan.args.end();
}

TEST(EalPlan, PlainMemoryWhenHugepagesAreShortOrUnmounted) {
    EalOptions o;
    o.memory_mb = 512;
    auto plan = plan_eal(o, HugepageInfo{uint64_t{1} << 30, false}, 42);
    EXPECT_FALSE(plan.hugepages);
    EXPECT_TRUE(has(plan, "--no-huge"));
    EXPECT_TRUE(has(plan, "--no-shconf"));
    EXPECT_FALSE(has(plan, "--in-memory")) << "DPDK 22.11 refuses it with --no-huge";
    EXPECT_NE(plan.why.find("not mounted"), std::string::npos);

    plan = plan_eal(o, HugepageInfo{uint64_t{256} << 20, true}, 42);
    EXPECT_FALSE(plan.hugepages);
    EXPECT_NE(plan.why.find("256 MiB of hugepages free, 512 MiB wanted"), std::string::npos);
}

TEST(EalPlan, InMemoryWhenEnoughHugepagesAreFree) {
    EalOptions o;
    o.memory_mb = 512;
    const auto plan = plan_eal(o, HugepageInfo{uint64_t{1} << 30, true}, 42);
    EXPECT_TRUE(plan.hugepages);
    EXPECT_TRUE(has(plan, "--in-memory"));
    EXPECT_FALSE(has(plan, "--no-huge"));
}

TEST(EalPlan, LcoresDevicesAndPrefix) {
    EalOptions o;
    o.process_name = "sluiced";
    const auto floating = plan_eal(o, {}, 7);
    EXPECT_EQ(floating.args[0], "sluiced");
    EXPECT_EQ(floating.args[1].rfind("--lcores=0@(0-", 0), 0u) << floating.args[1];
    EXPECT_TRUE(has(floating, "--file-prefix=sluiced-7"));
    EXPECT_TRUE(has(floating, "--no-pci"));

    o.lcores = {2, 3};
    o.file_prefix = "site-a";
    o.pci_devices = {"0000:03:00.0"};
    o.vdevs = {"net_null0", "net_ring0"};
    o.telemetry = false;
    const auto pinned = plan_eal(o, {}, 7);
    EXPECT_EQ(pinned.args[1], "-l");
    EXPECT_EQ(pinned.args[2], "2,3");
    EXPECT_TRUE(has(pinned, "--file-prefix=site-a"));
    EXPECT_FALSE(has(pinned, "--no-pci"));
    EXPECT_TRUE(has(pinned, "0000:03:00.0"));
    EXPECT_TRUE(has(pinned, "--vdev=net_null0"));
    EXPECT_TRUE(has(pinned, "--vdev=net_ring0"));
    EXPECT_TRUE(has(pinned, "--no-telemetry"));
}

TEST(Eal, StartsOnceAndServesMempools) {
    EalOptions o;
    o.process_name = "eal-test";
    o.memory_mb = 128;
    o.telemetry = false;
    std::string error;
    auto eal = Eal::start(o, &error);
    ASSERT_NE(eal, nullptr) << error;
    EXPECT_EQ(rte_lcore_count(), 1u);

    std::string again;
    EXPECT_EQ(Eal::start(o, &again), nullptr);
    EXPECT_NE(again.find("already running"), std::string::npos);

    rte_mempool* pool =
        rte_pktmbuf_pool_create("eal_test", 1023, 64, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    ASSERT_NE(pool, nullptr);
    rte_mbuf* mbufs[32];
    ASSERT_EQ(rte_pktmbuf_alloc_bulk(pool, mbufs, 32), 0);
    // The endpoint field rides in every mbuf of every pool.
    ASSERT_TRUE(register_mbuf_endpoint());
    MbufEndpoint* ep = mbuf_endpoint(mbufs[1]);
    *ep = MbufEndpoint{6, 0, 51820, {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};
    EXPECT_EQ(mbuf_endpoint(mbufs[1])->to_string(), "[2001:db8::1]:51820");
    *ep = MbufEndpoint{4, 0, 7, {192, 0, 2, 1}};
    EXPECT_EQ(ep->to_string(), "192.0.2.1:7");
    EXPECT_TRUE(register_mbuf_endpoint()) << "a second registration is harmless";

    char* data = rte_pktmbuf_append(mbufs[0], 1420);
    ASSERT_NE(data, nullptr);
    EXPECT_EQ(rte_pktmbuf_pkt_len(mbufs[0]), 1420u);
    for (rte_mbuf* m : mbufs) rte_pktmbuf_free(m);
    rte_mempool_free(pool);

    const std::string runtime_dir = rte_eal_get_runtime_dir();
    ASSERT_FALSE(runtime_dir.empty());
    eal.reset();
    EXPECT_FALSE(std::filesystem::exists(runtime_dir)) << runtime_dir << " left behind";
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

TEST(EalPlan, WorkersFollowAFloatingMainLcore) {
    EalOptions o;
    o.process_name = "sluiced";
    o.workers = {-1, 3};
    const auto plan = plan_eal(o, {}, 7);
    const std::string& spec = plan.args[1];
    ASSERT_EQ(spec.rfind("--lcores=0@(0-", 0), 0u) << spec;
    const std::string every = spec.substr(std::string("--lcores=0@").size(),
                                          spec.find(',') - std::string("--lcores=0@").size());
    EXPECT_EQ(spec, "--lcores=0@" + every + ",1@" + every + ",2@3");
}

}  // namespace
}  // namespace sluice
