// Tests of sluicectl's command line and output: argv that parses into the
// right request, argv that fails with exactly one line and the right exit
// code, socket choice, key files, and the text, JSON and testpmd-style
// renderers checked character for character on fixed replies.
#include "control/sluicectl_args.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "control/key_encoding.hpp"

namespace sluice::sluicectl {
namespace {

using ctl::Command;

constexpr const char* kKey1 = "ERERERERERERERERERERERERERERERERERERERERERE=";  // 32 × 0x11
constexpr const char* kKey2 = "IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI=";  // 32 × 0x22
constexpr const char* kKey3 = "MzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzM=";  // 32 × 0x33
constexpr const char* kKey4 = "REREREREREREREREREREREREREREREREREREREREREQ=";  // 32 × 0x44

Key filled(uint8_t b) {
    Key k;
    k.fill(b);
    return k;
}

IpPrefix prefix(std::string_view text) {
    return *parse_ip_prefix(text);
}

OrError<Invocation> parse(std::vector<std::string_view> args) {
    return parse_args(std::span<const std::string_view>(args));
}

Invocation parsed(std::vector<std::string_view> args) {
    const auto r = parse(args);
    if (const auto* e = std::get_if<UsageError>(&r)) {
        ADD_FAILURE() << e->message;
        return {};
    }
    return std::get<Invocation>(r);
}

// ---- Good command lines ---------------------------------------------------------------

TEST(SluicectlArgs, NoCommandMeansShow) {
    const Invocation inv = parsed({});
    EXPECT_EQ(inv.action, Invocation::Action::request);
    EXPECT_EQ(ctl::command_of(inv.request), Command::show);
    EXPECT_FALSE(inv.json);
}

TEST(SluicectlArgs, EveryShowTakesJson) {
    const std::pair<std::vector<std::string_view>, Command> cases[] = {
        {{"show", "--json"}, Command::show},
        {{"--json", "show", "lcores"}, Command::show_lcores},
        {{"show", "--json", "ports"}, Command::show_ports},
        {{"show", "drops", "--json"}, Command::show_drops},
        {{"show", "neighbours", "--json"}, Command::show_neighbours},
        {{"--json", "show", "neighbors"}, Command::show_neighbours},
        {{"show", "streams", "--json"}, Command::show_streams},
        {{"stats", "--json"}, Command::stats},
        {{"version", "--json"}, Command::version},
        {{"reload", "--json"}, Command::reload},
        {{"peer", "remove", kKey1, "--json"}, Command::peer_remove},
    };
    for (const auto& [args, command] : cases) {
        const Invocation inv = parsed(args);
        EXPECT_EQ(ctl::command_of(inv.request), command);
        EXPECT_TRUE(inv.json);
    }
}

TEST(SluicectlArgs, StatsWatch) {
    const Invocation plain = parsed({"stats"});
    EXPECT_FALSE(plain.watch);
    const Invocation watch = parsed({"stats", "--watch"});
    EXPECT_TRUE(watch.watch);
    EXPECT_EQ(watch.interval_ms, 1000u);
    EXPECT_EQ(watch.count, 0u);
    const Invocation tuned = parsed({"stats", "--watch", "--interval", "0.25", "--count", "3"});
    EXPECT_EQ(tuned.interval_ms, 250u);
    EXPECT_EQ(tuned.count, 3u);
    EXPECT_EQ(parsed({"--interval=2", "stats", "--watch"}).interval_ms, 2000u);
    EXPECT_EQ(parsed({"stats", "--watch", "--interval", "3600"}).interval_ms, 3600000u);
    EXPECT_EQ(parsed({"stats", "--watch", "--interval", "0.1"}).interval_ms, 100u);
}

TEST(SluicectlArgs, SocketAndInterface) {
    const Invocation i = parsed({"-i", "wg0", "show"});
    EXPECT_EQ(i.interface, "wg0");
    EXPECT_EQ(parsed({"show", "--interface=wg-b"}).interface, "wg-b");
    EXPECT_EQ(parsed({"--socket", "/tmp/s.ctl", "version"}).socket_path, "/tmp/s.ctl");
}

TEST(SluicectlArgs, PeerAddWithEverything) {
    const Invocation inv =
        parsed({"peer", "add", kKey1, "--name", "site b", "--endpoint", "[2001:db8::1]:51820",
                "--allowed-ips", "10.0.0.0/24,fd00::/64", "--allowed-ips", "192.0.2.0/24",
                "--keepalive", "25", "--preshared-key-file", "/etc/sluice/psk"});
    ctl::PeerAddRequest want;
    want.public_key = filled(0x11);
    want.name = "site b";
    want.endpoint = ctl::parse_socket_address("[2001:db8::1]:51820");
    want.allowed_ips = {prefix("10.0.0.0/24"), prefix("fd00::/64"), prefix("192.0.2.0/24")};
    want.persistent_keepalive = 25;
    EXPECT_EQ(inv.request, ctl::Request(want));
    EXPECT_EQ(inv.preshared_key_file, "/etc/sluice/psk");
    // The key itself comes from the file later: never from argv.
    EXPECT_FALSE(std::get<ctl::PeerAddRequest>(inv.request).preshared_key);
}

TEST(SluicectlArgs, PeerAddMinimalAndOff) {
    const Invocation inv =
        parsed({"peer", "add", kKey2, "--keepalive", "off", "--allowed-ips", ""});
    const auto& r = std::get<ctl::PeerAddRequest>(inv.request);
    EXPECT_EQ(r.public_key, filled(0x22));
    EXPECT_EQ(r.persistent_keepalive, 0);
    EXPECT_TRUE(r.allowed_ips.empty());
    EXPECT_FALSE(r.endpoint);
    EXPECT_TRUE(r.name.empty());
}

TEST(SluicectlArgs, PeerRemoveByKeyOrName) {
    EXPECT_EQ(parsed({"peer", "remove", kKey3}).request,
              ctl::Request(ctl::PeerRemoveRequest{filled(0x33)}));
    EXPECT_EQ(parsed({"peer", "remove", "--name", "site b"}).request,
              ctl::Request(ctl::PeerRemoveRequest{std::string("site b")}));
    // "--name=VALUE" takes a value that "--name VALUE" would read as an option.
    EXPECT_EQ(parsed({"peer", "remove", "--name=--odd"}).request,
              ctl::Request(ctl::PeerRemoveRequest{std::string("--odd")}));
}

TEST(SluicectlArgs, HelpAndVersionWin) {
    for (const auto& args :
         std::vector<std::vector<std::string_view>>{{"--help"},
                                                    {"-h"},
                                                    {"help"},
                                                    {"show", "--help"},
                                                    {"bogus", "-h"},
                                                    {"stats", "--interval", "1", "--help"}}) {
        EXPECT_EQ(parsed(args).action, Invocation::Action::help);
    }
    EXPECT_EQ(parsed({"--version"}).action, Invocation::Action::print_version);
    EXPECT_EQ(parsed({"show", "--version"}).action, Invocation::Action::print_version);
    EXPECT_EQ(ctl::command_of(parsed({"version"}).request), Command::version);
}

TEST(SluicectlArgs, DoubleDashEndsOptions) {
    const Invocation inv = parsed({"--json", "--", "show", "ports"});
    EXPECT_TRUE(inv.json);
    EXPECT_EQ(ctl::command_of(inv.request), Command::show_ports);
}

TEST(SluicectlArgs, ShowNeighboursEitherSpelling) {
    for (const std::string_view word : {"neighbours", "neighbors"}) {
        const Invocation inv = parsed({"-i", "wg0", "show", word});
        EXPECT_EQ(inv.request, ctl::Request(ctl::ShowNeighboursRequest{})) << word;
        EXPECT_FALSE(inv.json);
        EXPECT_EQ(inv.interface, "wg0");
    }
}

TEST(SluicectlArgs, ShowStreams) {
    const Invocation inv = parsed({"-i", "wg0", "show", "streams"});
    EXPECT_EQ(inv.action, Invocation::Action::request);
    EXPECT_EQ(inv.request, ctl::Request(ctl::ShowStreamsRequest{}));
    EXPECT_FALSE(inv.json);
    EXPECT_EQ(inv.interface, "wg0");
    EXPECT_TRUE(parsed({"--json", "show", "streams"}).json);
}

TEST(SluicectlArgs, ArgcArgvForm) {
    const char* argv[] = {"sluicectl", "-i", "wg0", "show", "drops", nullptr};
    const auto r = parse_args(5, argv);
    ASSERT_TRUE(std::holds_alternative<Invocation>(r));
    EXPECT_EQ(ctl::command_of(std::get<Invocation>(r).request), Command::show_drops);
}

// ---- Bad command lines: one line each, and the right exit code ----------------------------

struct BadCase {
    std::vector<std::string_view> args;
    int exit_code;
    std::string message;
};

const std::string kHint = " (see sluicectl --help)";
const std::string kBadKey = ": expected 44 characters of base64 ending in '='";

std::vector<BadCase> bad_cases() {
    return {
        // The shape of the command line: 64.
        {{"bogus"}, 64, "sluicectl: unknown command \"bogus\"" + kHint},
        {{"shw"}, 64, "sluicectl: unknown command \"shw\"; did you mean \"show\"?" + kHint},
        {{"show", "peers"},
         64,
         "sluicectl: unknown show target \"peers\": show takes lcores, ports, drops, "
         "neighbours, streams or nothing" +
             kHint},
        {{"show", "port"},
         64,
         "sluicectl: unknown show target \"port\": show takes lcores, ports, drops, "
         "neighbours, streams or nothing; did you mean \"ports\"?" +
             kHint},
        {{"show", "lcores", "extra"}, 64, "sluicectl: unexpected argument \"extra\"" + kHint},
        {{"show", "neighbour"},
         64,
         "sluicectl: unknown show target \"neighbour\": show takes lcores, ports, drops, "
         "neighbours, streams or nothing; did you mean \"neighbours\"?" +
             kHint},
        {{"show", "neighbors", "lan"}, 64, "sluicectl: unexpected argument \"lan\"" + kHint},
        {{"show", "neighbours", "--watch"},
         64,
         "sluicectl: --watch does not go with show neighbours" + kHint},
        {{"show", "stream"},
         64,
         "sluicectl: unknown show target \"stream\": show takes lcores, ports, drops, "
         "neighbours, streams or nothing; did you mean \"streams\"?" +
             kHint},
        {{"show", "streams", "site-b"}, 64, "sluicectl: unexpected argument \"site-b\"" + kHint},
        {{"show", "streams", "all", "now"}, 64, "sluicectl: unexpected argument \"all\"" + kHint},
        {{"show", "streams", "--watch"},
         64,
         "sluicectl: --watch does not go with show streams" + kHint},
        {{"show", "streams", "--name", "x"},
         64,
         "sluicectl: --name does not go with show streams" + kHint},
        {{"help", "me"}, 64, "sluicectl: unexpected argument \"me\"" + kHint},
        {{"peer"}, 64, "sluicectl: peer needs add or remove" + kHint},
        {{"peer", "list"},
         64,
         "sluicectl: unknown peer command \"list\": peer takes add or remove" + kHint},
        {{"peer", "add"}, 64, "sluicectl: peer add needs the peer's public key" + kHint},
        {{"peer", "add", kKey1, kKey2},
         64,
         "sluicectl: unexpected argument \"" + std::string(kKey2) + "\"" + kHint},
        {{"peer", "remove"},
         64,
         "sluicectl: peer remove needs a public key or --name NAME" + kHint},
        {{"peer", "remove", kKey1, "--name", "x"},
         64,
         "sluicectl: peer remove takes a public key or --name, not both" + kHint},
        {{"--jsn"}, 64, "sluicectl: unknown option \"--jsn\"; did you mean \"--json\"?" + kHint},
        {{"-x", "show"}, 64, "sluicectl: unknown option \"-x\"" + kHint},
        {{"--json=yes", "show"}, 64, "sluicectl: --json takes no value" + kHint},
        {{"-i"}, 64, "sluicectl: -i needs a value" + kHint},
        {{"stats", "--watch", "--interval"}, 64, "sluicectl: --interval needs a value" + kHint},
        {{"stats", "--watch", "--interval", "--json"},
         64,
         "sluicectl: --interval needs a value" + kHint},
        {{"stats", "--interval", "1"}, 64, "sluicectl: --interval goes with --watch" + kHint},
        {{"stats", "--count", "2"}, 64, "sluicectl: --count goes with --watch" + kHint},
        {{"show", "--watch"}, 64, "sluicectl: --watch does not go with show" + kHint},
        {{"peer", "add", kKey1, "--json"},
         64,
         "sluicectl: --json does not go with peer add" + kHint},
        {{"peer", "remove", kKey1, "--endpoint", "1.2.3.4:5"},
         64,
         "sluicectl: --endpoint does not go with peer remove" + kHint},
        {{"--json", "show", "--json"}, 64, "sluicectl: --json given twice" + kHint},
        {{"peer", "add", kKey1, "--name", "a", "--name", "b"},
         64,
         "sluicectl: --name given twice" + kHint},
        {{"-i", "wg0", "--socket", "/run/x.ctl"},
         64,
         "sluicectl: give --socket or -i, not both" + kHint},
        // Values that do not parse: 65.
        {{"peer", "add", "notakey"},
         65,
         "sluicectl: peer add: bad public key \"notakey\"" + kBadKey},
        {{"peer", "add", "ERERERERERERERERERERERERERERERERERERERERERE"},
         65,
         "sluicectl: peer add: bad public key \"ERERERERERERERERERERERERERERERERERERERERERE\"" +
             kBadKey},
        {{"peer", "remove", "site-b"},
         65,
         "sluicectl: peer remove: bad public key \"site-b\"" + kBadKey},
        {{"peer", "add", "bad\x1bkey"},
         65,
         "sluicectl: peer add: bad public key \"bad\\x1bkey\"" + kBadKey},
        {{"peer", "add", kKey1, "--allowed-ips", "10.0.0.0/33"},
         65,
         "sluicectl: --allowed-ips: bad CIDR \"10.0.0.0/33\": expected an address and prefix "
         "length such as 10.0.0.0/24 or fd00::/64"},
        {{"peer", "add", kKey1, "--allowed-ips", "10.0.0.0/24,300.0.0.0/8"},
         65,
         "sluicectl: --allowed-ips: bad CIDR \"300.0.0.0/8\": expected an address and prefix "
         "length such as 10.0.0.0/24 or fd00::/64"},
        {{"peer", "add", kKey1, "--allowed-ips", "10.0.0.1/24"},
         65,
         "sluicectl: --allowed-ips: \"10.0.0.1/24\" has bits set past its length; did you mean "
         "10.0.0.0/24?"},
        {{"peer", "add", kKey1, "--allowed-ips", "10.0.0.0/24", "--allowed-ips", "10.0.0.0/24"},
         65,
         "sluicectl: --allowed-ips: 10.0.0.0/24 given twice"},
        {{"peer", "add", kKey1, "--allowed-ips", "10.0.0.0/24,"},
         65,
         "sluicectl: --allowed-ips: empty entry after ','"},
        {{"peer", "add", kKey1, "--allowed-ips", ",10.0.0.0/24"},
         65,
         "sluicectl: --allowed-ips: empty entry in the list"},
        {{"peer", "add", kKey1, "--endpoint", "vpn.example.com:51820"},
         65,
         "sluicectl: --endpoint: bad endpoint \"vpn.example.com:51820\": not an IP address "
         "(sluicectl does not resolve host names)"},
        {{"peer", "add", kKey1, "--endpoint", "192.0.2.1"},
         65,
         "sluicectl: --endpoint: bad endpoint \"192.0.2.1\": no ':port' at the end"},
        {{"peer", "add", kKey1, "--endpoint", "[2001:db8::1]:70000"},
         65,
         "sluicectl: --endpoint: bad endpoint \"[2001:db8::1]:70000\": the port must be a number "
         "1..65535"},
        {{"peer", "add", kKey1, "--keepalive", "65536"},
         65,
         "sluicectl: --keepalive: bad keepalive \"65536\": expected seconds from 0 to 65535, or "
         "off"},
        {{"peer", "add", kKey1, "--keepalive", "-5"},
         65,
         "sluicectl: --keepalive: bad keepalive \"-5\": expected seconds from 0 to 65535, or off"},
        {{"peer", "add", kKey1, "--name", " lead"},
         65,
         "sluicectl: --name: bad peer name \" lead\": 1 to 64 printable ASCII characters, no space "
         "at either end"},
        {{"peer", "remove", "--name", std::string_view("")},
         65,
         "sluicectl: --name: bad peer name \"\": 1 to 64 printable ASCII characters, no space at "
         "either end"},
        {{"peer", "add", kKey1, "--preshared-key-file="},
         65,
         "sluicectl: --preshared-key-file: empty path"},
        {{"stats", "--watch", "--interval", "-1"},
         65,
         "sluicectl: --interval: bad interval \"-1\": expected seconds from 0.1 to 3600, such as 1 "
         "or 0.5"},
        {{"stats", "--watch", "--interval", "0"},
         65,
         "sluicectl: --interval: bad interval \"0\": expected seconds from 0.1 to 3600, such as 1 "
         "or 0.5"},
        {{"stats", "--watch", "--interval", "0.05"},
         65,
         "sluicectl: --interval: bad interval \"0.05\": expected seconds from 0.1 to 3600, such as "
         "1 or 0.5"},
        {{"stats", "--watch", "--interval", "1.2345"},
         65,
         "sluicectl: --interval: bad interval \"1.2345\": expected seconds from 0.1 to 3600, such "
         "as 1 or 0.5"},
        {{"stats", "--watch", "--interval", "1s"},
         65,
         "sluicectl: --interval: bad interval \"1s\": expected seconds from 0.1 to 3600, such as 1 "
         "or 0.5"},
        {{"stats", "--watch", "--interval", "3601"},
         65,
         "sluicectl: --interval: bad interval \"3601\": expected seconds from 0.1 to 3600, such as "
         "1 or 0.5"},
        {{"stats", "--watch", "--count", "0"},
         65,
         "sluicectl: --count: bad count \"0\": expected a number of snapshots from 1 to "
         "1000000000"},
        {{"-i", "this-name-is-too-long", "show"},
         65,
         "sluicectl: -i: bad interface name \"this-name-is-too-long\": 1 to 15 characters from "
         "A-Z a-z 0-9 _ = + . -"},
        {{"--interface", "wg/0"},
         65,
         "sluicectl: --interface: bad interface name \"wg/0\": 1 to 15 characters from A-Z a-z "
         "0-9 _ = + . -"},
        {{"--socket="}, 65, "sluicectl: --socket: a socket path is 1 to 107 bytes, got 0"},
    };
}

TEST(SluicectlArgs, BadCommandLines) {
    const auto cases = bad_cases();
    EXPECT_GE(cases.size(), 25u);
    for (const BadCase& c : cases) {
        std::string shown;
        for (const auto a : c.args) shown += std::string(a) + " ";
        SCOPED_TRACE(shown);
        const auto r = parse(c.args);
        ASSERT_TRUE(std::holds_alternative<UsageError>(r));
        const UsageError& e = std::get<UsageError>(r);
        EXPECT_EQ(e.message, c.message);
        EXPECT_EQ(e.exit_code, c.exit_code);
        EXPECT_EQ(e.message.find('\n'), std::string::npos);  // one line
    }
}

TEST(SluicectlArgs, LongWordsAreCutInMessages) {
    const std::string long_word(200, 'z');
    const auto r = parse({long_word});
    const std::string& m = std::get<UsageError>(r).message;
    EXPECT_EQ(m, "sluicectl: unknown command \"" + std::string(64, 'z') + "...\"" + kHint);
}

TEST(SluicectlArgs, TooManyAllowedIps) {
    // 10.i.j.0/24: 65536 distinct prefixes, as many as the parser collects,
    // and more than one request carries (6 bytes each against 256 KiB).
    std::string list;
    for (int i = 0; i < 256; ++i)
        for (int j = 0; j < 256; ++j)
            list += (list.empty() ? "" : ",") +
                    ("10." + std::to_string(i) + "." + std::to_string(j) + ".0/24");
    const auto full = parse({"peer", "add", kKey1, "--allowed-ips", list});
    const UsageError& e = std::get<UsageError>(full);
    EXPECT_EQ(e.exit_code, exit_code::bad_value);
    EXPECT_EQ(e.message,
              "sluicectl: peer add: too many allowed IPs for one request (request payload of "
              "393258 bytes, the limit is 262144); list them in the configuration file and "
              "reload");
    const auto more =
        parse({"peer", "add", kKey1, "--allowed-ips", list, "--allowed-ips", "11.0.0.0/24"});
    EXPECT_EQ(std::get<UsageError>(more).message,
              "sluicectl: --allowed-ips: more than 65536 prefixes");
    // What does fit: 40000 prefixes.
    const size_t cut = list.find("10.156.64.0/24");  // entry 40000
    ASSERT_NE(cut, std::string::npos);
    const Invocation fits =
        parsed({"peer", "add", kKey1, "--allowed-ips", list.substr(0, cut - 1)});
    EXPECT_EQ(std::get<ctl::PeerAddRequest>(fits.request).allowed_ips.size(), 40000u);
}

// ---- Help -----------------------------------------------------------------------------

TEST(SluicectlHelp, ListsEveryCommandAndOption) {
    const std::string help = help_text();
    for (const ctl::CommandSpec& spec : ctl::kCommands)
        EXPECT_NE(help.find("  " + std::string(spec.name)), std::string::npos) << spec.name;
    for (const char* option : {"--socket", "-i, --interface", "--json", "--watch", "--interval",
                               "--count", "--name", "--endpoint", "--allowed-ips", "--keepalive",
                               "--preshared-key-file", "--help", "--version"})
        EXPECT_NE(help.find(option), std::string::npos) << option;
    EXPECT_TRUE(help.starts_with("usage: sluicectl "));
    EXPECT_EQ(client_version_text(),
              std::string("sluicectl ") + SLUICE_VERSION + " (control protocol 1)");
}

// ---- Socket choice and key files --------------------------------------------------------

TEST(SluicectlSocket, Choice) {
    Invocation inv;
    EXPECT_EQ(std::get<std::string>(choose_socket(inv, {"wg0.ctl"})), "/run/sluice/wg0.ctl");
    EXPECT_EQ(std::get<std::string>(choose_socket(inv, {"README", "wg1.ctl", ".ctl"})),
              "/run/sluice/wg1.ctl");
    const UsageError none = std::get<UsageError>(choose_socket(inv, {"notes.txt"}));
    EXPECT_EQ(none.exit_code, exit_code::no_daemon);
    EXPECT_EQ(none.message,
              "sluicectl: no sluiced is running: /run/sluice/ holds no .ctl socket (start "
              "sluiced, or give --socket PATH)");
    const UsageError several = std::get<UsageError>(choose_socket(inv, {"wg1.ctl", "wg0.ctl"}));
    EXPECT_EQ(several.exit_code, exit_code::usage);
    EXPECT_EQ(
        several.message,
        "sluicectl: several interfaces are running (wg0, wg1): pick one with -i IFNAME" + kHint);
    inv.interface = "wg9";
    EXPECT_EQ(std::get<std::string>(choose_socket(inv, {})), "/run/sluice/wg9.ctl");
    inv.interface.clear();
    inv.socket_path = "/tmp/x.ctl";
    EXPECT_EQ(std::get<std::string>(choose_socket(inv, {"wg0.ctl", "wg1.ctl"})), "/tmp/x.ctl");
}

class KeyFile : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("sluicectl_test_" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::string write(const std::string& name, const std::string& contents) {
        const auto p = dir_ / name;
        std::ofstream(p, std::ios::binary) << contents;
        return p.string();
    }
    std::filesystem::path dir_;
};

TEST_F(KeyFile, ReadsAKeyWithOrWithoutNewline) {
    EXPECT_EQ(std::get<Key>(read_key_file(write("a", std::string(kKey4) + "\n"))), filled(0x44));
    EXPECT_EQ(std::get<Key>(read_key_file(write("b", kKey4))), filled(0x44));
}

TEST_F(KeyFile, RefusesAnythingElse) {
    for (const std::string& contents :
         {std::string(kKey4) + "\n\n", std::string(kKey4) + " ", std::string("short"),
          std::string(), std::string(kKey4) + std::string(kKey4)}) {
        const std::string path = write("bad", contents);
        const UsageError e = std::get<UsageError>(read_key_file(path));
        EXPECT_EQ(e.exit_code, exit_code::bad_value);
        EXPECT_EQ(e.message, "sluicectl: key file \"" + path +
                                 "\": expected one base64 key (44 characters) and nothing else");
    }
}

TEST_F(KeyFile, MissingOrNotAFile) {
    const std::string missing = (dir_ / "missing").string();
    const UsageError e = std::get<UsageError>(read_key_file(missing));
    EXPECT_EQ(e.exit_code, exit_code::io);
    EXPECT_EQ(e.message,
              "sluicectl: cannot read key file \"" + missing + "\": No such file or directory");
    const UsageError d = std::get<UsageError>(read_key_file(dir_.string()));
    EXPECT_EQ(d.exit_code, exit_code::io);
    EXPECT_EQ(d.message,
              "sluicectl: cannot read key file \"" + dir_.string() + "\": not a regular file");
}

// ---- Protocol errors as exit codes ----------------------------------------------------------

TEST(SluicectlErrors, DaemonAndProtocolErrors) {
    const UsageError refused = error_for(
        Command::peer_remove, ctl::Error{ctl::Errc::daemon_error, "no peer named \"x\"", ENOENT});
    EXPECT_EQ(refused.exit_code, exit_code::failed);
    EXPECT_EQ(refused.message, "sluicectl: peer remove: no peer named \"x\" (ENOENT)");
    const UsageError version =
        error_for(Command::show, ctl::Error{ctl::Errc::wrong_version, "", 0, 2});
    EXPECT_EQ(version.exit_code, exit_code::protocol);
    EXPECT_EQ(version.message,
              "sluicectl: show: control protocol version mismatch: the other end speaks version "
              "2, this end speaks version 1 (use sluicectl and sluiced from the same release)");
}

// ---- Renderers ------------------------------------------------------------------------------

ctl::ShowResponse fixed_show() {
    ctl::ShowResponse show;
    show.interface = {"wg0",    filled(0x11), 51820,
                      "kernel", 1420,         {prefix("10.0.0.1/24"), prefix("fd00::1/64")}};
    ctl::PeerInfo a;
    a.public_key = filled(0x22);
    a.name = "site-a";
    a.has_preshared_key = true;
    a.endpoint = ctl::parse_socket_address("192.0.2.9:4500");
    a.allowed_ips = {prefix("10.1.0.0/16"), prefix("fd00:1::/64")};
    a.handshake_age_ms = 65'432;
    a.persistent_keepalive = 25;
    a.rx_bytes = 1'268'000;
    a.tx_bytes = 3'565'158;
    a.keypairs = {{ctl::KeypairSlot::current, 0x1234abcd, 0x5678ef01, 65'000, true, 1234},
                  {ctl::KeypairSlot::previous, 7, 8, 185'999, false, 99999}};
    ctl::PeerInfo b;
    b.public_key = filled(0x33);
    show.peers = {a, b};
    return show;
}

TEST(SluicectlRender, ShowText) {
    EXPECT_EQ(render_text(fixed_show()),
              "interface: wg0\n"
              "  public key: ERERERERERERERERERERERERERERERERERERERERERE=\n"
              "  listening port: 51820\n"
              "  driver: kernel\n"
              "  mtu: 1420\n"
              "  addresses: 10.0.0.1/24, fd00::1/64\n"
              "\n"
              "peer: IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI= (site-a)\n"
              "  preshared key: (hidden)\n"
              "  endpoint: 192.0.2.9:4500\n"
              "  allowed ips: 10.1.0.0/16, fd00:1::/64\n"
              "  latest handshake: 1 minute, 5 seconds ago\n"
              "  transfer: 1.21 MiB received, 3.40 MiB sent\n"
              "  persistent keepalive: every 25 seconds\n"
              "  keypair current: index 0x1234abcd, remote 0x5678ef01, we initiated, 65 s old, "
              "1234 sent\n"
              "  keypair previous: index 0x00000007, remote 0x00000008, they initiated, 185 s "
              "old, 99999 sent\n"
              "\n"
              "peer: MzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzM=\n"
              "  allowed ips: (none)\n");
}

TEST(SluicectlRender, ShowJson) {
    EXPECT_EQ(
        render_json(fixed_show()),
        "{\"interface\":{\"name\":\"wg0\",\"public_key\":\"ERERERERERERERERERERERERERERERERERERERE"
        "RERE=\",\"listen_port\":51820,\"driver\":\"kernel\",\"mtu\":1420,\"addresses\":[\"10.0."
        "0.1/24\",\"fd00::1/64\"]},\"peers\":[{\"public_key\":\"IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI"
        "iIiIiIiIiI=\",\"name\":\"site-a\",\"preshared_key\":true,\"endpoint\":\"192.0.2.9:4500\","
        "\"allowed_ips\":[\"10.1.0.0/16\",\"fd00:1::/64\"],\"latest_handshake_age_ms\":65432,"
        "\"persistent_keepalive\":25,\"rx_bytes\":1268000,\"tx_bytes\":3565158,\"keypairs\":[{"
        "\"slot\":\"current\",\"local_index\":305441741,\"remote_index\":1450766081,\"age_ms\":"
        "65000,\"we_initiated\":true,\"messages_sent\":1234},{\"slot\":\"previous\",\"local_"
        "index\":7,\"remote_index\":8,\"age_ms\":185999,\"we_initiated\":false,\"messages_sent\":"
        "99999}]},{\"public_key\":\"MzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzM=\",\"name\":null,"
        "\"preshared_key\":false,\"endpoint\":null,\"allowed_ips\":[],\"latest_handshake_age_"
        "ms\":null,\"persistent_keepalive\":0,\"rx_bytes\":0,\"tx_bytes\":0,\"keypairs\":[]}]}\n");
}

TEST(SluicectlRender, HandshakeJustNow) {
    ctl::ShowResponse s = fixed_show();
    s.peers[0].handshake_age_ms = 999;
    EXPECT_NE(render_text(s).find("  latest handshake: Now\n"), std::string::npos);
}

TEST(SluicectlRender, Lcores) {
    const ctl::LcoresResponse r{{{1, "worker", {10, 1000, 20, 2000, 3}, 250, 1000, 4, 6},
                                 {12, "worker", {123456, 98765432, 0, 0, 0}, 0, 0}}};
    EXPECT_EQ(render_text(r),
              "lcore  role    rx-packets  rx-bytes  tx-packets  tx-bytes  dropped  handed-out  "
              "handed-in   busy\n"
              "    1  worker          10      1000          20      2000        3           4  "
              "        6  25.0%\n"
              "   12  worker      123456  98765432           0         0        0           0  "
              "        0      -\n");
    EXPECT_EQ(render_json(r),
              "{\"lcores\":[{\"lcore_id\":1,\"role\":\"worker\",\"rx_packets\":10,\"rx_bytes\":"
              "1000,\"tx_packets\":20,\"tx_bytes\":2000,\"dropped\":3,\"busy_cycles\":250,"
              "\"total_cycles\":1000,\"handed_out\":4,\"handed_in\":6,\"pipelined\":0},{\"lcore_id\":12,"
              "\"role\":\"worker\",\"rx_packets\":123456,\"rx_bytes\":98765432,\"tx_packets\":0,\"tx_bytes\":0,"
              "\"dropped\":0,\"busy_cycles\":0,\"total_cycles\":0,\"handed_out\":0,\"handed_in\":"
              "0,\"pipelined\":0}]}\n");
    EXPECT_EQ(render_text(ctl::LcoresResponse{}), "no lcores\n");
}

// Pipeline mode: the roles, and a pipelined column before busy.
TEST(SluicectlRender, LcoresPipeline) {
    const ctl::LcoresResponse r{{{1, "rx/tx", {10, 1000, 20, 2000, 3}, 250, 1000, 0, 0, 30},
                                 {2, "crypto", {0, 0, 0, 0, 0}, 500, 1000, 0, 0, 29}}};
    EXPECT_EQ(render_text(r),
              "lcore  role    rx-packets  rx-bytes  tx-packets  tx-bytes  dropped  handed-out  "
              "handed-in  pipelined   busy\n"
              "    1  rx/tx           10      1000          20      2000        3           0  "
              "        0         30  25.0%\n"
              "    2  crypto           0         0           0         0        0           0  "
              "        0         29  50.0%\n");
    EXPECT_NE(render_json(r).find("\"role\":\"crypto\""), std::string::npos);
    EXPECT_NE(render_json(r).find("\"pipelined\":29}"), std::string::npos);
}

TEST(SluicectlRender, Ports) {
    const ctl::PortsResponse r{
        {{0, "wan", "kernel-udp", "eth1", true, 10000, 1500, 2, 2, {1, 2, 3, 4, 5, 6, 7}},
         {1, "lan", "tun", "wg0", false, 0, 1420, 1, 1, {}}}};
    EXPECT_EQ(render_text(r),
              "port 0 (wan): kernel-udp on eth1, link up, 10000 Mbit/s, mtu 1500, 2 rx / 2 tx "
              "queues\n"
              "  RX-packets: 1  RX-bytes: 2  RX-missed: 3  RX-errors: 4\n"
              "  TX-packets: 5  TX-bytes: 6  TX-errors: 7\n"
              "port 1 (lan): tun on wg0, link down, mtu 1420, 1 rx / 1 tx queues\n"
              "  RX-packets: 0  RX-bytes: 0  RX-missed: 0  RX-errors: 0\n"
              "  TX-packets: 0  TX-bytes: 0  TX-errors: 0\n");
    EXPECT_EQ(render_json(ctl::PortsResponse{{r.ports[1]}}),
              "{\"ports\":[{\"port_id\":1,\"name\":\"lan\",\"driver\":\"tun\",\"device\":\"wg0\","
              "\"link_up\":false,\"speed_mbps\":0,\"mtu\":1420,\"rx_queues\":1,\"tx_queues\":1,"
              "\"rx_packets\":0,\"rx_bytes\":0,\"rx_missed\":0,\"rx_errors\":0,\"tx_packets\":0,"
              "\"tx_bytes\":0,\"tx_errors\":0,\"why\":\"\",\"notes\":\"\",\"xstats\":{}}]}\n");
}

// One entry in each state, on two ports.
ctl::NeighboursResponse fixed_neighbours() {
    using S = ctl::NeighbourState;
    const ctl::MacAddress host_a = {0x02, 0x00, 0x5e, 0x10, 0x00, 0xab};
    const ctl::MacAddress router = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
    ctl::NeighbourPort lan{"lan", {}, {}};
    lan.neighbours = {
        {*parse_ip_address("10.0.1.2"), S::reachable, host_a, 0, 0, 1234, 28766},
        {*parse_ip_address("10.0.1.9"), S::incomplete, std::nullopt, 2, 3, 1400, 600},
        {*parse_ip_address("fd00:1::2"), S::probing, host_a, 1, 0, 200, 800},
        {*parse_ip_address("fd00:1::9"), S::failed, std::nullopt, 3, 0, 500, 2500},
    };
    lan.counters = {7, 2, 1, 1, 5, 3, 0, 2, 0, 0, 4, 2, 1, 1, 2, 9, 5, 0};
    ctl::NeighbourPort wan{"wan", {}, {}};
    wan.neighbours = {
        {*parse_ip_address("192.0.2.254"), S::permanent, router, 0, 0, std::nullopt, std::nullopt}};
    return {"dpdk", {lan, wan}};
}

TEST(SluicectlRender, Neighbours) {
    EXPECT_EQ(
        render_text(fixed_neighbours()),
        "port  address      mac                state        age  next                         "
        "  queued\n"
        "lan   10.0.1.2     02:00:5e:10:00:ab  reachable   1.2s  probe in 28.7s               "
        "       0\n"
        "lan   10.0.1.9     -                  incomplete  1.4s  2 requests sent, next in 0.6s"
        "       3\n"
        "lan   fd00:1::2    02:00:5e:10:00:ab  probing     0.2s  1 probe sent, next in 0.8s   "
        "       0\n"
        "lan   fd00:1::9    -                  failed      0.5s  forget in 2.5s               "
        "       0\n"
        "wan   192.0.2.254  02:00:00:00:00:01  static         -  -                            "
        "       0\n"
        "lan counters: requests_sent=7 requests_failed=0 resolved=2 changed=1 failed=1 queued=5 "
        "released=3\n"
        "              dropped_queue_full=0 dropped_failed=2 dropped_table_full=0 arp_replies=4 "
        "nd_adverts=2\n"
        "              echo_replies=1 time_exceeded_sent=1 too_big_sent=2 punted_learn=9 "
        "punted_await=5\n"
        "              punt_full=0\n"
        "wan counters: requests_sent=0 requests_failed=0 resolved=0 changed=0 failed=0 queued=0 "
        "released=0\n"
        "              dropped_queue_full=0 dropped_failed=0 dropped_table_full=0 arp_replies=0 "
        "nd_adverts=0\n"
        "              echo_replies=0 time_exceeded_sent=0 too_big_sent=0 punted_learn=0 "
        "punted_await=0\n"
        "              punt_full=0\n");
    ctl::NeighboursResponse wan_only = fixed_neighbours();
    wan_only.ports.pop_back();
    wan_only.ports[0].neighbours.clear();
    EXPECT_EQ(render_text(wan_only).substr(0, 28), "no neighbours\nlan counters: ");
    EXPECT_EQ(render_text(ctl::NeighboursResponse{"kernel", {}}), "no L2 ports (driver kernel)\n");
}

TEST(SluicectlRender, NeighboursJson) {
    ctl::NeighboursResponse r = fixed_neighbours();
    r.ports[0].neighbours.resize(2);
    r.ports[0].counters = {};
    EXPECT_EQ(render_json(r),
              "{\"driver\":\"dpdk\",\"ports\":[{\"port\":\"lan\",\"neighbours\":[{\"address\":"
              "\"10.0.1.2\",\"mac\":\"02:00:5e:10:00:ab\",\"state\":\"reachable\",\"tries\":0,"
              "\"queued\":0,\"age_ms\":1234,\"next_ms\":28766},{\"address\":\"10.0.1.9\",\"mac\":"
              "null,\"state\":\"incomplete\",\"tries\":2,\"queued\":3,\"age_ms\":1400,\"next_ms\":"
              "600}],\"counters\":{\"requests_sent\":0,\"requests_failed\":0,\"resolved\":0,"
              "\"changed\":0,\"failed\":0,\"queued\":0,\"released\":0,\"dropped_queue_full\":0,"
              "\"dropped_failed\":0,\"dropped_table_full\":0,\"arp_replies\":0,\"nd_adverts\":0,"
              "\"echo_replies\":0,\"time_exceeded_sent\":0,\"too_big_sent\":0,\"punted_learn\":0,"
              "\"punted_await\":0,\"punt_full\":0}},{\"port\":\"wan\",\"neighbours\":[{\"address\":"
              "\"192.0.2.254\",\"mac\":\"02:00:00:00:00:01\",\"state\":\"static\",\"tries\":0,"
              "\"queued\":0,\"age_ms\":null,\"next_ms\":null}],\"counters\":{\"requests_sent\":0,"
              "\"requests_failed\":0,\"resolved\":0,\"changed\":0,\"failed\":0,\"queued\":0,"
              "\"released\":0,\"dropped_queue_full\":0,\"dropped_failed\":0,\"dropped_table_full\":"
              "0,\"arp_replies\":0,\"nd_adverts\":0,\"echo_replies\":0,\"time_exceeded_sent\":0,"
              "\"too_big_sent\":0,\"punted_learn\":0,\"punted_await\":0,\"punt_full\":0}}]}\n");
    EXPECT_EQ(render_json(ctl::NeighboursResponse{"kernel", {}}),
              "{\"driver\":\"kernel\",\"ports\":[]}\n");
}

// Two sessions: one open with two streams and counters, one the peer closed.
ctl::StreamsResponse fixed_streams() {
    ctl::StreamSession open;
    open.peer = "site-b";
    open.state = "open";
    open.session_id = 0x2a;
    open.peer_session_id = 0x17;
    open.srtt_us = 12'345;
    open.min_rtt_us = 850;
    open.rttvar_us = 2'500;
    open.cwnd = 123'456;
    open.ssthresh = UINT64_MAX;
    open.bytes_in_flight = 4096;
    open.tx_max_data = 4'194'304;
    open.tx_data = 1'048'576;
    open.rx_max_data = 4'194'304;
    open.rx_data = 524'288;
    open.rx_window = 2'097'152;
    open.tx_max_streams = 100;
    open.rx_max_streams = 64;
    open.buffered = 8192;
    open.counters = {{"packets_sent", 10}, {"packets_received", 12}, {"packets_lost", 0}};
    open.streams = {
        {0, true, "open", "ssh", 1024, 1024, 65536, 2048, 2048, 65536, 65536, 0, false, false},
        {3, false, "half-closed-remote", "", 10, 5, 65536, 300, 100, 65536, 65536, 200, false,
         true},
    };
    ctl::StreamSession closed;
    closed.peer = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=";
    closed.state = "closed";
    closed.session_id = 7;
    closed.close_error = "credit_overrun";
    closed.closed_by_peer = true;
    closed.close_reason = "stream 4: 70000 beyond 65536";
    closed.ssthresh = 60'000;
    return {true, 64ull << 20, 20 * 1024, {}, {open, closed}};
}

TEST(SluicectlRender, Streams) {
    EXPECT_EQ(render_text(fixed_streams()),
              "streams: buffers use 20.00 KiB of 64.00 MiB; 2 sessions\n"
              "\n"
              "peer: site-b\n"
              "  state: open, session 0x0000002a, peer session 0x00000017\n"
              "  rtt: 12.3 ms (min 0.85 ms, var 2.50 ms)\n"
              "  cwnd: 123456, in flight: 4096, ssthresh: -\n"
              "  session credit: tx 1048576/4194304, rx 524288/4194304 (window 2097152)\n"
              "  streams: 2 (limit tx 100, rx 64), buffered: 8192\n"
              "  id  dir     state               forward  tx written/acked/credit  "
              "rx received/read/credit  buf\n"
              "   0  local   open                ssh      1024/1024/65536          "
              "2048/2048/65536            0\n"
              "   3  remote  half-closed-remote  -        10/5/65536               "
              "300/100/65536 fin        200\n"
              "  counters: packets_sent=10 packets_received=12 packets_lost=0\n"
              "\n"
              "peer: QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=\n"
              "  state: closed, session 0x00000007, peer session 0x00000000\n"
              "  closed by the peer: credit_overrun (stream 4: 70000 beyond 65536)\n"
              "  rtt: 0.00 ms (min 0.00 ms, var 0.00 ms)\n"
              "  cwnd: 0, in flight: 0, ssthresh: 60000\n"
              "  session credit: tx 0/0, rx 0/0 (window 0)\n"
              "  streams: 0 (limit tx 0, rx 0), buffered: 0\n");
    ctl::StreamsResponse ours = fixed_streams();
    ours.sessions.erase(ours.sessions.begin());
    ours.sessions[0].closed_by_peer = false;
    ours.sessions[0].close_error = "idle_timeout";
    ours.sessions[0].close_reason = "";
    ours.sessions[0].srtt_us = 1'250'000;
    ours.sessions[0].min_rtt_us = UINT64_MAX;
    const std::string text = render_text(ours);
    EXPECT_NE(text.find("; 1 session\n"), std::string::npos) << text;
    EXPECT_NE(text.find("\n  closed by this gateway: idle_timeout\n"), std::string::npos) << text;
    EXPECT_NE(text.find("\n  rtt: 1250.0 ms (min -, var 0.00 ms)\n"), std::string::npos) << text;
    ours.sessions[0].close_error = "none";
    ours.sessions[0].close_reason = "shutting down";
    EXPECT_NE(render_text(ours).find("\n  closed by this gateway (shutting down)\n"),
              std::string::npos)
        << render_text(ours);
    // A live session may say why the one before it closed.
    ours.sessions[0].state = "opening";
    ours.sessions[0].close_error = "";
    ours.sessions[0].close_reason = "previous session: idle_timeout";
    EXPECT_NE(render_text(ours).find("\n  note: previous session: idle_timeout\n"),
              std::string::npos)
        << render_text(ours);
    EXPECT_EQ(render_text(ctl::StreamsResponse{true, 0, 100, {}, {}}),
              "streams: buffers use 100 B (no budget); no sessions\n");
    EXPECT_EQ(render_text(ctl::StreamsResponse{}),
              "streams: not enabled (no peer has `streams:` in the configuration)\n");
    EXPECT_EQ(render_text(ctl::StreamsResponse{true, 1 << 20, 0, {}, {}}),
              "streams: buffers use 0 B of 1.00 MiB; no sessions\n");
}

TEST(SluicectlRender, StreamsJson) {
    ctl::StreamsResponse r = fixed_streams();
    r.sessions[0].streams.pop_back();
    EXPECT_EQ(
        render_json(r),
        "{\"enabled\":true,\"memory_budget\":67108864,\"memory_used\":20480,\"counters\":{},\"sessions\":[{"
        "\"peer\":\"site-b\",\"state\":\"open\",\"session_id\":42,\"peer_session_id\":23,"
        "\"close_error\":null,\"closed_by_peer\":false,\"close_reason\":null,\"srtt_us\":12345,"
        "\"min_rtt_us\":850,\"rttvar_us\":2500,\"cwnd\":123456,\"ssthresh\":null,"
        "\"bytes_in_flight\":4096,\"tx_max_data\":4194304,\"tx_data\":1048576,"
        "\"rx_max_data\":4194304,\"rx_data\":524288,\"rx_window\":2097152,"
        "\"tx_max_streams\":100,\"rx_max_streams\":64,\"buffered\":8192,\"counters\":{"
        "\"packets_sent\":10,\"packets_received\":12,\"packets_lost\":0},\"streams\":[{"
        "\"id\":0,\"local\":true,\"state\":\"open\",\"forward\":\"ssh\",\"tx_written\":1024,"
        "\"tx_acked\":1024,\"tx_credit\":65536,\"rx_received\":2048,\"rx_read\":2048,"
        "\"rx_credit\":65536,\"rx_window\":65536,\"rx_buffered\":0,\"fin_sent\":false,"
        "\"fin_received\":false}]},{\"peer\":\"QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=\","
        "\"state\":\"closed\",\"session_id\":7,\"peer_session_id\":0,\"close_error\":"
        "\"credit_overrun\",\"closed_by_peer\":true,\"close_reason\":\"stream 4: 70000 beyond "
        "65536\",\"srtt_us\":0,\"min_rtt_us\":0,\"rttvar_us\":0,\"cwnd\":0,\"ssthresh\":60000,"
        "\"bytes_in_flight\":0,\"tx_max_data\":0,\"tx_data\":0,\"rx_max_data\":0,\"rx_data\":0,"
        "\"rx_window\":0,\"tx_max_streams\":0,\"rx_max_streams\":0,\"buffered\":0,"
        "\"counters\":{},\"streams\":[]}]}\n");
    r.sessions[0].streams[0].forward = "";
    r.sessions[0].streams[0].fin_sent = true;
    EXPECT_NE(render_json(r).find("\"forward\":null,"), std::string::npos);
    EXPECT_NE(render_json(r).find("\"fin_sent\":true,"), std::string::npos);
    EXPECT_EQ(render_json(ctl::StreamsResponse{}),
              "{\"enabled\":false,\"memory_budget\":0,\"memory_used\":0,\"counters\":{},\"sessions\":[]}\n");
}

TEST(SluicectlRender, Drops) {
    const ctl::DropsResponse r{{1, 2}, {{"replay", {5, 6}}, {"something_new", {0, 1}}}};
    EXPECT_EQ(render_text(r),
              "reason         total  lcore 1  lcore 2  description\n"
              "replay            11        5        6  counter already seen or behind the replay "
              "window\n"
              "something_new      1        0        1\n");
    EXPECT_EQ(render_json(r),
              "{\"lcore_ids\":[1,2],\"drops\":[{\"reason\":\"replay\",\"total\":11,\"per_lcore\":"
              "[5,6]},{\"reason\":\"something_new\",\"total\":1,\"per_lcore\":[0,1]}]}\n");
}

TEST(SluicectlRender, VersionReloadRemoveAdd) {
    const ctl::VersionResponse v{"0.1.0", 1, "wg0", "kernel", 3723};
    EXPECT_EQ(render_text(v), client_version_text() +
                                  "\nsluiced 0.1.0 (control protocol 1), interface wg0, driver "
                                  "kernel, up 1 hour, 2 minutes, 3 seconds\n");
    EXPECT_EQ(render_json(v), std::string("{\"sluicectl\":{\"version\":\"") + SLUICE_VERSION +
                                  "\",\"protocol\":1},\"sluiced\":{\"version\":\"0.1.0\","
                                  "\"protocol\":1,\"interface\":\"wg0\",\"driver\":\"kernel\","
                                  "\"uptime_s\":3723}}\n");
    const ctl::ReloadResponse reload{1, 0, 2, {"peers[1]: no allowed_ips"}};
    EXPECT_EQ(render_text(reload),
              "reloaded: 1 peers added, 0 removed, 2 changed\nwarning: peers[1]: no allowed_ips\n");
    EXPECT_EQ(render_json(reload),
              "{\"peers_added\":1,\"peers_removed\":0,\"peers_changed\":2,\"warnings\":[\"peers[1]"
              ": no allowed_ips\"]}\n");
    const ctl::PeerRemoveResponse removed{filled(0x44), "site-d"};
    EXPECT_EQ(render_text(removed),
              "removed peer REREREREREREREREREREREREREREREREREREREREREQ= (site-d)\n");
    EXPECT_EQ(
        render_json(removed),
        "{\"removed\":\"REREREREREREREREREREREREREREREREREREREREREQ=\",\"name\":\"site-d\"}\n");
    EXPECT_EQ(render_text(ctl::PeerAddResponse{}), "");
    EXPECT_EQ(render_json(ctl::PeerAddResponse{}), "{}\n");
}

TEST(SluicectlRender, JsonEscapesStrings) {
    ctl::ReloadResponse r;
    r.warnings = {"a \"quoted\" back\\slash", "new\nline"};
    EXPECT_EQ(render_json(r),
              "{\"peers_added\":0,\"peers_removed\":0,\"peers_changed\":0,\"warnings\":[\"a "
              "\\\"quoted\\\" back\\\\slash\",\"new?line\"]}\n");
}

ctl::StatsResponse snapshot(uint64_t t_ns, uint64_t rx_packets, uint64_t rx_bytes,
                            uint64_t tx_packets, uint64_t tx_bytes) {
    return {t_ns,
            {{0, "wan", {rx_packets, rx_bytes, 1, 2, tx_packets, tx_bytes, 3}}},
            {{2, {rx_packets, rx_bytes, tx_packets, tx_bytes, 4}}}};
}

TEST(SluicectlRender, Rates) {
    const auto a = snapshot(1'000'000'000, 1000, 1'000'000, 500, 250'000);
    const auto b = snapshot(3'000'000'000, 3000, 3'000'000, 700, 250'000);
    EXPECT_EQ(port_rates(a, b, 0), (Rates{1000, 8'000'000, 100, 0}));
    EXPECT_EQ(lcore_rates(a, b, 2), (Rates{1000, 8'000'000, 100, 0}));
    EXPECT_EQ(port_rates(a, b, 9), std::nullopt);  // no such port
    EXPECT_EQ(port_rates(b, a, 0), std::nullopt);  // time went backwards
    const auto restarted = snapshot(4'000'000'000, 10, 10, 10, 10);
    EXPECT_EQ(port_rates(b, restarted, 0), (Rates{0, 0, 0, 0}));  // counters reset
}

TEST(SluicectlRender, StatsPeriodLikeTestpmd) {
    const auto a = snapshot(1'000'000'000, 1000, 1'000'000, 500, 250'000);
    const auto b = snapshot(2'000'000'000, 3000, 3'000'000, 700, 250'000);
    const std::string border = "########################";
    const std::string closing = "  " + border + "############################" + border + "\n";
    EXPECT_EQ(render_stats_period(&a, b),
              "\n  " + border + " NIC statistics for port 0 (wan) " + border + "\n" +
                  "  RX-packets: 3000       RX-missed: 1          RX-bytes:  3000000\n"
                  "  RX-errors: 2\n"
                  "  TX-packets: 700        TX-errors: 3          TX-bytes:  250000\n"
                  "\n"
                  "  Throughput (since last show)\n"
                  "  Rx-pps:         2000          Rx-bps:     16000000\n"
                  "  Tx-pps:          200          Tx-bps:            0\n" +
                  closing + "\n  " + border + " statistics for lcore 2 " + border + "\n" +
                  "  RX-packets: 3000       RX-bytes:  3000000\n"
                  "  TX-packets: 700        TX-bytes:  250000\n"
                  "  Dropped:    4\n"
                  "\n"
                  "  Throughput (since last show)\n"
                  "  Rx-pps:         2000          Rx-bps:     16000000\n"
                  "  Tx-pps:          200          Tx-bps:            0\n" +
                  closing);
    // The first period has no rates to show; a plain `stats` is that period.
    const std::string first = render_stats_period(nullptr, b);
    EXPECT_EQ(first.find("Throughput"), std::string::npos);
    EXPECT_EQ(render_text(b), first);
}

TEST(SluicectlRender, StatsJson) {
    const auto a = snapshot(1'000'000'000, 1000, 1'000'000, 500, 250'000);
    const auto b = snapshot(2'000'000'000, 3000, 3'000'000, 700, 250'000);
    EXPECT_EQ(render_stats_json(&a, b),
              "{\"timestamp_ns\":2000000000,\"interval_ns\":1000000000,\"ports\":[{\"port_id\":0,"
              "\"name\":\"wan\",\"rx_packets\":3000,\"rx_bytes\":3000000,\"rx_missed\":1,\"rx_"
              "errors\":2,\"tx_packets\":700,\"tx_bytes\":250000,\"tx_errors\":3,\"rates\":{\"rx_"
              "pps\":2000,\"rx_bps\":16000000,\"tx_pps\":200,\"tx_bps\":0}}],\"lcores\":[{\"lcore_"
              "id\":2,\"rx_packets\":3000,\"rx_bytes\":3000000,\"tx_packets\":700,\"tx_bytes\":"
              "250000,\"dropped\":4,\"rates\":{\"rx_pps\":2000,\"rx_bps\":16000000,\"tx_pps\":200,"
              "\"tx_bps\":0}}]}\n");
    EXPECT_EQ(render_json(b),
              "{\"timestamp_ns\":2000000000,\"interval_ns\":null,\"ports\":[{\"port_id\":0,"
              "\"name\":\"wan\",\"rx_packets\":3000,\"rx_bytes\":3000000,\"rx_missed\":1,\"rx_"
              "errors\":2,\"tx_packets\":700,\"tx_bytes\":250000,\"tx_errors\":3,\"rates\":null}"
              "],\"lcores\":[{\"lcore_id\":2,\"rx_packets\":3000,\"rx_bytes\":3000000,\"tx_"
              "packets\":700,\"tx_bytes\":250000,\"dropped\":4,\"rates\":null}]}\n");
}

TEST(SluicectlRender, HumanUnits) {
    EXPECT_EQ(human_duration(0), "");
    EXPECT_EQ(human_duration(1), "1 second");
    EXPECT_EQ(human_duration(61), "1 minute, 1 second");
    EXPECT_EQ(human_duration(366 * 86400 + 7200), "1 year, 1 day, 2 hours");
    EXPECT_EQ(human_bytes(0), "0 B");
    EXPECT_EQ(human_bytes(1023), "1023 B");
    EXPECT_EQ(human_bytes(1024), "1.00 KiB");
    EXPECT_EQ(human_bytes(1536ull << 20), "1.50 GiB");
    EXPECT_EQ(human_bytes(5ull << 50), "5120.00 TiB");
}

}  // namespace
}  // namespace sluice::sluicectl
