// SIP through a private Kamailio (issue 6, "Benchmark"), Sotto and linphonec
// side by side in one run:
//  1. REGISTER round trip: from the first REGISTER reaching Kamailio to the
//     registration being saved (401 challenge, digest, second REGISTER), as
//     Kamailio timestamps them, for both clients alike (Sotto: account.connect
//     after a disconnect; linphonec: its registration at startup, the only one
//     its command line can repeat); for Sotto also the front end's view
//     (`account.connect {wait:true}` over RPC).
//  2. INVITE -> 200 OK: from the first INVITE reaching Kamailio (407 leg
//     included) to the callee's 200 OK passing it. Sotto's callee answers when
//     its front end sees the incoming call (RPC round trip included);
//     linphonec's callee answers by itself (-a).
//  3. RSS of an idle registered account: a `sotto rpc` process with 1 and with
//     N SIP accounts, and a linphonec (one account per process).
// Not a Google Benchmark: it drives processes. Usage (bench/sip_bench.sh):
//   sip_bench SOTTO_PATH [ROUNDS=10] [ACCOUNTS=10]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness/kamailio.h"
#include "harness/linphone.h"
#include "harness/rpc_client.h"
#include "process_figures.h"

namespace {

using namespace sotto::test;
using namespace sotto::bench;
using nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string read_from(const std::filesystem::path& path, std::uintmax_t offset) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The timestamp (seconds) of the first log line since `offset` that matches.
std::optional<double> logged_time(const Kamailio& k, std::uintmax_t offset,
                                  const std::string& pattern) {
  const std::regex re(pattern + R"([^\n]* t=([0-9]+\.[0-9]+))");
  const std::string text = read_from(k.log_path(), offset);
  std::smatch m;
  if (!std::regex_search(text, m, re)) return std::nullopt;
  return std::stod(m[m.size() - 1]);
}

// Waits for a line matching `pattern` since offset; its timestamp.
double wait_logged(const Kamailio& k, std::uintmax_t offset, const std::string& pattern,
                   std::chrono::milliseconds timeout = 10s) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (auto t = logged_time(k, offset, pattern)) return *t;
    if (Clock::now() > deadline) throw std::runtime_error("not in Kamailio's log: " + pattern);
    std::this_thread::sleep_for(2ms);
  }
}

struct Sotto {
  std::unique_ptr<TempDir> home;
  std::unique_ptr<RpcProcess> rpc;
  std::vector<std::string> addresses;
};

Sotto start_sotto(const std::string& path) {
  Sotto s;
  s.home = std::make_unique<TempDir>("sotto-sip-bench");
  s.rpc = std::make_unique<RpcProcess>(
      path, std::vector<std::string>{"rpc"},
      std::map<std::string, std::string>{{"XDG_DATA_HOME", s.home->path().string()},
                                         {"DBUS_SESSION_BUS_ADDRESS", ""}});
  return s;
}

void add_account(Sotto& s, Kamailio& k, const std::string& user) {
  const std::string password = "pw-" + user;
  k.add_user(user, password);
  const std::string address = user + "@127.0.0.1";
  s.rpc->call("account.add", {{"address", address},
                              {"password", password},
                              {"protocol", "sip"},
                              {"transport", "udp"},
                              {"host", "127.0.0.1"},
                              {"port", k.udp_port()},
                              {"remember", true}});
  s.rpc->call("account.connect", {{"address", address}, {"wait", true}}, 30s);
  s.addresses.push_back(address);
}

void wait_unregistered(const Kamailio& k, const std::string& user) {
  const auto deadline = Clock::now() + 10s;
  while (!k.contacts(user).empty()) {
    if (Clock::now() > deadline) throw std::runtime_error(user + " stays registered");
    std::this_thread::sleep_for(5ms);
  }
  std::this_thread::sleep_for(20ms);  // the unregistration's log lines are written
}

json wait_call(RpcProcess& rpc, const std::string& state, std::chrono::milliseconds t = 20s) {
  return rpc.wait_event(
      [&](const json& e) {
        return e.value("type", "") == "call" && e["call"].value("state", "") == state;
      },
      t)["call"];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: sip_bench SOTTO_PATH [ROUNDS=10] [ACCOUNTS=10]\n";
    return 2;
  }
  const std::string sotto_path = argv[1];
  const int rounds = argc > 2 ? std::max(1, std::atoi(argv[2])) : 10;
  const int accounts = argc > 3 ? std::max(2, std::atoi(argv[3])) : 10;
  try {
    Kamailio k;
    std::cerr << "Kamailio on udp " << k.udp_port() << " (log " << k.log_path() << ")\n";

    // --- 1. REGISTER ----------------------------------------------------------
    std::vector<double> sotto_reg_server;
    std::vector<double> sotto_reg_client;
    Sotto a = start_sotto(sotto_path);
    add_account(a, k, "benchalice");
    for (int i = 0; i < rounds; ++i) {
      a.rpc->call("account.disconnect", {{"address", a.addresses[0]}});
      wait_unregistered(k, "benchalice");
      const auto offset = k.log_size();
      const auto t0 = Clock::now();
      a.rpc->call("account.connect", {{"address", a.addresses[0]}, {"wait", true}}, 30s);
      sotto_reg_client.push_back(
          std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      const double first = wait_logged(k, offset, "SIPLOG recv REGISTER");
      const double saved = wait_logged(k, offset, "SIPLOG registered benchalice");
      sotto_reg_server.push_back((saved - first) * 1000);
    }

    std::vector<double> lin_reg_server;
    k.add_user("benchlin", "pw-benchlin");
    for (int i = 0; i < rounds; ++i) {
      // A fresh linphonec each round: it registers at startup, which Kamailio times.
      const auto offset = k.log_size();
      {
        Linphone lin({.user = "benchlin", .password = "pw-benchlin", .proxy_port = k.udp_port()});
        const double first = wait_logged(k, offset, "SIPLOG recv REGISTER");
        const double saved = wait_logged(k, offset, "SIPLOG registered benchlin");
        lin_reg_server.push_back((saved - first) * 1000);
      }
      wait_unregistered(k, "benchlin");
    }

    // --- 2. INVITE -> 200 OK --------------------------------------------------
    std::vector<double> sotto_invite;
    Sotto b = start_sotto(sotto_path);
    add_account(b, k, "benchbob");
    for (int i = 0; i < rounds; ++i) {
      const auto offset = k.log_size();
      json started =
          a.rpc->call("call.start", {{"account", a.addresses[0]}, {"to", b.addresses[0]}});
      json incoming = wait_call(*b.rpc, "incoming");
      b.rpc->call("call.answer", {{"id", incoming.value("id", "")}});
      wait_call(*a.rpc, "active");
      const double invite = wait_logged(k, offset, "SIPLOG recv INVITE");
      const double ok = wait_logged(k, offset, "SIPLOG reply 200 INVITE");
      sotto_invite.push_back((ok - invite) * 1000);
      a.rpc->call("call.hangup", {{"id", started.value("id", "")}});
      wait_call(*a.rpc, "ended");
      wait_call(*b.rpc, "ended");
    }

    std::vector<double> lin_invite;
    std::vector<double> sotto_to_lin;
    long lin_rss = 0;
    {
      k.add_user("benchlinb", "pw-benchlinb");
      Linphone caller({.user = "benchlin", .password = "pw-benchlin", .proxy_port = k.udp_port()});
      Linphone callee({.user = "benchlinb",
                       .password = "pw-benchlinb",
                       .proxy_port = k.udp_port(),
                       .auto_answer = true});
      caller.wait_registered();
      callee.wait_registered();
      for (int i = 0; i < rounds; ++i) {
        const auto offset = k.log_size();
        caller.command("call " + callee.address());
        caller.wait_for(R"(Call \d+ with \S+ connected)", 15s);
        const double invite = wait_logged(k, offset, "SIPLOG recv INVITE");
        const double ok = wait_logged(k, offset, "SIPLOG reply 200 INVITE");
        lin_invite.push_back((ok - invite) * 1000);
        caller.command("terminate all");
        caller.wait_for(R"(Call \d+ with \S+ ended)", 10s);
        callee.wait_for(R"(Call \d+ with \S+ ended)", 10s);
      }
      // Sotto calls the auto-answering linphonec.
      for (int i = 0; i < rounds; ++i) {
        const auto offset = k.log_size();
        json started =
            a.rpc->call("call.start", {{"account", a.addresses[0]}, {"to", "benchlinb@127.0.0.1"}});
        wait_call(*a.rpc, "active");
        const double invite = wait_logged(k, offset, "SIPLOG recv INVITE");
        const double ok = wait_logged(k, offset, "SIPLOG reply 200 INVITE");
        sotto_to_lin.push_back((ok - invite) * 1000);
        a.rpc->call("call.hangup", {{"id", started.value("id", "")}});
        wait_call(*a.rpc, "ended");
        callee.wait_for(R"(Call \d+ with \S+ ended)", 10s);
      }
      // --- 3. RSS of an idle registered linphonec ---
      std::this_thread::sleep_for(2s);
      lin_rss = rss_kb(callee.pid());
    }

    // --- 3. RSS of an idle Sotto with 1 and N accounts -----------------------
    Sotto idle = start_sotto(sotto_path);
    add_account(idle, k, "benchidle0");
    std::this_thread::sleep_for(2s);
    const long rss_one = rss_kb(idle.rpc->pid());
    for (int i = 1; i < accounts; ++i) add_account(idle, k, "benchidle" + std::to_string(i));
    std::this_thread::sleep_for(2s);
    const long rss_n = rss_kb(idle.rpc->pid());
    const double per_account = static_cast<double>(rss_n - rss_one) / (accounts - 1);

    auto ratio = [](double sotto, double lin) { return lin > 0 ? fmt(sotto / lin, 2) : "-"; };
    std::cout << "\nSIP through Kamailio, " << rounds << " rounds, medians (ms)\n"
              << "                                          Sotto   linphonec   Sotto/linphonec\n";
    auto row = [&](const std::string& name, double s, double l) {
      std::printf("%-40s %7s %11s %17s\n", name.c_str(), fmt(s, 2).c_str(), fmt(l, 2).c_str(),
                  ratio(s, l).c_str());
    };
    row("REGISTER round trip (at Kamailio)", median(sotto_reg_server), median(lin_reg_server));
    std::printf("%-40s %7s %11s\n", "REGISTER, front end's view (RPC)",
                fmt(median(sotto_reg_client), 2).c_str(), "-");
    row("INVITE -> 200 OK (A calls B of its kind)", median(sotto_invite), median(lin_invite));
    std::printf("%-40s %7s\n", "INVITE -> 200 OK, Sotto -> linphonec -a",
                fmt(median(sotto_to_lin), 2).c_str());
    std::cout << "\nMemory, idle and registered (RSS, MB)\n";
    std::printf("%-40s %7s %11s %17s\n", "process with 1 account", fmt(rss_one / 1024.0).c_str(),
                fmt(lin_rss / 1024.0).c_str(), ratio(rss_one, lin_rss).c_str());
    std::printf("%-40s %7s %11s %17s\n",
                ("each further account (of " + std::to_string(accounts) + ")").c_str(),
                fmt(per_account / 1024.0, 2).c_str(), fmt(lin_rss / 1024.0).c_str(),
                ratio(per_account, lin_rss).c_str());
    std::cout << "(linphonec holds one account per process: each further account is another"
                 " process.)\n";
  } catch (const std::exception& e) {
    std::cerr << "sip_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
