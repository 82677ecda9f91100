// Encrypted calls through a private Kamailio (issue 7, "Benchmark"), Sotto
// and linphonec side by side in one run, each pair calling its own kind with
// ZRTP (linphonec: mandatory), audio from WAV files both ways:
//  1. set-up: from the caller's "call" (RPC call.start / linphonec `call`) to
//     the caller seeing the call secure (Sotto's call event with encryption
//     "secure"; linphonec's "is fully encrypted" line). The callee answers at
//     once (Sotto: when its front end sees the call, an RPC round trip;
//     linphonec: -a).
//  2. CPU per process in an active call: user+system time over SECONDS of a
//     call (from /proc), for the caller and the callee.
//  3. RSS of the caller in the call.
// Not a Google Benchmark: it drives processes. Usage (bench/call_bench.sh):
//   call_bench SOTTO_PATH [ROUNDS=5] [SECONDS=20]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness/kamailio.h"
#include "harness/linphone.h"
#include "harness/rpc_client.h"
#include "process_figures.h"
#include "sotto/media/audio.h"

namespace {

using namespace sotto::test;
using namespace sotto::bench;
using nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// CPU % of each process over `seconds`.
std::vector<double> cpu_percent(const std::vector<pid_t>& pids, int seconds) {
  std::vector<double> before;
  for (pid_t pid : pids) before.push_back(cpu_seconds(pid));
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> out;
  for (std::size_t i = 0; i < pids.size(); ++i) {
    out.push_back((cpu_seconds(pids[i]) - before[i]) / wall * 100);
  }
  return out;
}

struct Sotto {
  std::unique_ptr<TempDir> home;
  std::unique_ptr<RpcProcess> rpc;
  std::string address;
};

Sotto start_sotto(const std::string& path, Kamailio& k, const std::string& user,
                  const std::filesystem::path& tone, const std::filesystem::path& heard) {
  Sotto s;
  s.home = std::make_unique<TempDir>("sotto-call-bench");
  s.rpc = std::make_unique<RpcProcess>(
      path, std::vector<std::string>{"rpc"},
      std::map<std::string, std::string>{{"XDG_DATA_HOME", s.home->path().string()},
                                         {"DBUS_SESSION_BUS_ADDRESS", ""}});
  const std::string password = "pw-" + user;
  k.add_user(user, password);
  s.address = user + "@127.0.0.1";
  s.rpc->call("account.add", {{"address", s.address},
                              {"password", password},
                              {"protocol", "sip"},
                              {"transport", "udp"},
                              {"host", "127.0.0.1"},
                              {"port", k.udp_port()},
                              {"remember", true}});
  s.rpc->call("account.connect", {{"address", s.address}, {"wait", true}}, 30s);
  s.rpc->call(
      "calls.set",
      {{"audio",
        {{"backend", "file"}, {"input_wav", tone.string()}, {"output_wav", heard.string()}}}});
  return s;
}

json wait_call(RpcProcess& rpc, const std::function<bool(const json&)>& match,
               std::chrono::milliseconds t = 20s) {
  return rpc.wait_event(
      [&](const json& e) { return e.value("type", "") == "call" && match(e["call"]); }, t)["call"];
}

json wait_state(RpcProcess& rpc, const std::string& state) {
  return wait_call(rpc, [&](const json& c) { return c.value("state", "") == state; });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: call_bench SOTTO_PATH [ROUNDS=5] [SECONDS=20]\n";
    return 2;
  }
  const std::string sotto_path = argv[1];
  const int rounds = argc > 2 ? std::max(1, std::atoi(argv[2])) : 5;
  const int seconds = argc > 3 ? std::max(2, std::atoi(argv[3])) : 20;
  try {
    Kamailio k;
    TempDir audio("sotto-call-bench-audio");
    const auto tone = audio.path() / "tone.wav";
    sotto::media::Wav wav;
    wav.rate = 8000;
    wav.samples = sotto::media::make_tone(8000, 440, seconds + 30);
    if (auto w = sotto::media::write_wav(tone, wav); !w)
      throw std::runtime_error(w.error().message);

    // --- Sotto <-> Sotto ------------------------------------------------------
    std::vector<double> sotto_setup;
    std::string sotto_codec;
    std::string sotto_cipher;
    std::vector<double> sotto_cpu;
    long sotto_rss = 0;
    {
      Sotto a = start_sotto(sotto_path, k, "cbalice", tone, audio.path() / "a-heard.wav");
      Sotto b = start_sotto(sotto_path, k, "cbbob", tone, audio.path() / "b-heard.wav");
      for (int i = 0; i < rounds + 1; ++i) {
        const auto t0 = Clock::now();
        json started = a.rpc->call("call.start", {{"account", a.address}, {"to", b.address}});
        const std::string id = started.value("id", "");
        json incoming = wait_state(*b.rpc, "incoming");
        b.rpc->call("call.answer", {{"id", incoming.value("id", "")}});
        json secure = wait_call(*a.rpc, [&](const json& c) {
          return c.value("id", "") == id && c.value("encryption", "") == "secure";
        });
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        if (i > 0) sotto_setup.push_back(ms);  // the first call also starts the media thread
        sotto_codec = secure.value("codec", "");
        sotto_cipher = secure.value("cipher", "");
        if (i == rounds) {
          std::this_thread::sleep_for(2s);
          sotto_cpu = cpu_percent({a.rpc->pid(), b.rpc->pid()}, seconds);
          sotto_rss = rss_kb(a.rpc->pid());
        }
        a.rpc->call("call.hangup", {{"id", id}});
        wait_state(*a.rpc, "ended");
        wait_state(*b.rpc, "ended");
      }
    }

    // --- linphonec <-> linphonec ----------------------------------------------
    std::vector<double> lin_setup;
    std::vector<double> lin_cpu;
    long lin_rss = 0;
    {
      k.add_user("cblina", "pw-a");
      k.add_user("cblinb", "pw-b");
      Linphone caller({.user = "cblina",
                       .password = "pw-a",
                       .proxy_port = k.udp_port(),
                       .media_encryption = "zrtp",
                       .zrtp_key_agreements = "MS_ZRTP_KEY_AGREEMENT_X255"});
      Linphone callee({.user = "cblinb",
                       .password = "pw-b",
                       .proxy_port = k.udp_port(),
                       .media_encryption = "zrtp",
                       .auto_answer = true,
                       .zrtp_key_agreements = "MS_ZRTP_KEY_AGREEMENT_X255"});
      caller.wait_registered();
      callee.wait_registered();
      for (int i = 0; i < rounds + 1; ++i) {
        caller.skip_output();
        const auto t0 = Clock::now();
        caller.command("call " + callee.address());
        caller.wait_for(R"(Call \d+ is fully encrypted)", 20s);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        if (i > 0) lin_setup.push_back(ms);
        if (i == rounds) {
          caller.command("play " + tone.string());
          callee.command("play " + tone.string());
          std::this_thread::sleep_for(2s);
          lin_cpu = cpu_percent({caller.pid(), callee.pid()}, seconds);
          lin_rss = rss_kb(caller.pid());
        }
        caller.command("terminate all");
        caller.wait_for(R"(Call \d+ with \S+ ended)", 10s);
        callee.wait_for(R"(Call \d+ with \S+ ended)", 10s);
      }
    }

    auto ratio = [](double s, double l) { return l > 0 ? fmt(s / l, 2) : "-"; };
    std::cout << "\nEncrypted calls (ZRTP) through Kamailio, " << rounds
              << " calls each, medians; Sotto: " << sotto_codec << ", " << sotto_cipher << "\n"
              << "                                        Sotto   linphonec   Sotto/linphonec\n";
    auto row = [&](const std::string& name, double s, double l, int decimals) {
      std::printf("%-38s %7s %11s %17s\n", name.c_str(), fmt(s, decimals).c_str(),
                  fmt(l, decimals).c_str(), ratio(s, l).c_str());
    };
    row("call -> ZRTP secure at caller (ms)", median(sotto_setup), median(lin_setup), 1);
    if (sotto_cpu.size() == 2 && lin_cpu.size() == 2) {
      row("CPU % of the caller (" + std::to_string(seconds) + " s)", sotto_cpu[0], lin_cpu[0], 2);
      row("CPU % of the callee (" + std::to_string(seconds) + " s)", sotto_cpu[1], lin_cpu[1], 2);
    }
    row("RSS of the caller in a call (MB)", sotto_rss / 1024.0, lin_rss / 1024.0, 1);
  } catch (const std::exception& e) {
    std::cerr << "call_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
