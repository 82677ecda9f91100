// Two Sotto accounts chatting through a private Prosody on 127.0.0.1:
// round trip (Alice sends, Bob's engine echoes, Alice receives) and one-way
// throughput of a burst, each in plain text (/0) and in a private OTR
// conversation (/1); and the OTR key exchange through the server.
// Run: build/release/bench/xmpp_chat_bench
#include <benchmark/benchmark.h>

#include <cstdlib>

#include <algorithm>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <chrono>
#include <thread>

#include "harness/prosody.h"
#include "sotto/app/app.h"

namespace {

using namespace std::chrono_literals;
using sotto::app::AccountSettings;
using sotto::app::Engine;

struct World {
  sotto::test::Prosody server;
  sotto::test::TempDir home{"sotto-bench"};
  asio::io_context io;
  // Keeps run_one_for() waiting for work handed back by other threads
  // (key derivation, OTR key generation) instead of returning at once.
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  Engine alice{io, "alice", home.path()};
  Engine bob{io, "bob", home.path()};

  World() {
    // The bench's profiles keep their keys in files, never in a desktop keyring.
    ::unsetenv("DBUS_SESSION_BUS_ADDRESS");
    server.register_user("alice", "pw-alice");
    server.register_user("bob", "pw-bob");
    for (auto [engine, name] : {std::pair{&alice, "alice"}, std::pair{&bob, "bob"}}) {
      if (!engine->open()) throw std::runtime_error("profile");
      std::optional<sotto::Result<void>> created;
      engine->create_profile(std::nullopt, [&](sotto::Result<void> r) { created = r; });
      run_until([&] { return created.has_value(); });
      if (!*created) throw std::runtime_error("profile");
      AccountSettings settings;
      settings.address = std::string(name) + "@localhost";
      settings.host = "127.0.0.1";
      settings.port = server.c2s_port();
      settings.pinned_cert_sha256 = server.cert_sha256();
      if (!engine->add_account(settings, "")) throw std::runtime_error("add");
      if (!engine->connect(settings.address, "pw-" + std::string(name)))
        throw std::runtime_error("connect");
    }
    run_until([&] {
      return alice.state("alice@localhost") == sotto::app::AccountState::online &&
             bob.state("bob@localhost") == sotto::app::AccountState::online;
    });
    // OTR only when a benchmark asks for it; keys are made on going online.
    for (Engine* engine : {&alice, &bob}) {
      if (!engine->set_otr_policy(sotto::app::OtrPolicy::manual)) throw std::runtime_error("otr");
    }
    run_until([&] {
      auto a = alice.otr_fingerprint("alice@localhost");
      auto b = bob.otr_fingerprint("bob@localhost");
      return a && *a && b && *b;
    });
  }

  sotto::app::Privacy privacy(Engine& engine, const char* account, const char* peer) {
    auto status = engine.otr_status(account, peer);
    if (!status) throw std::runtime_error("otr status");
    return status->privacy;
  }

  bool both(sotto::app::Privacy wanted) {
    return privacy(alice, "alice@localhost", "bob@localhost") == wanted &&
           privacy(bob, "bob@localhost", "alice@localhost") == wanted;
  }

  // A private conversation (on) or plain text (off) between the two.
  void go_private(bool on) {
    if (on) {
      if (both(sotto::app::Privacy::unverified)) return;
      if (!alice.start_otr("alice@localhost", "bob@localhost")) throw std::runtime_error("start");
      run_until([&] { return both(sotto::app::Privacy::unverified); });
    } else {
      (void)alice.end_otr("alice@localhost", "bob@localhost");
      (void)bob.end_otr("bob@localhost", "alice@localhost");
      run_until([&] { return both(sotto::app::Privacy::not_private); });
    }
  }

  template <class Pred>
  void run_until(Pred done, std::chrono::seconds limit = 30s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      io.run_one_for(100ms);
      if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("timeout");
    }
  }
};

World& world() {
  static World w;
  return w;
}

void BM_RoundTrip(benchmark::State& state) {
  World& w = world();
  int echoed = 0;
  auto echo = w.bob.subscribe([&](const sotto::app::Event& e) {
    if (auto* m = std::get_if<sotto::app::MessageReceived>(&e); m && m->body.starts_with("ping"))
      (void)w.bob.send_message("bob@localhost", "alice@localhost", "pong" + m->body.substr(4));
  });
  auto back = w.alice.subscribe([&](const sotto::app::Event& e) {
    if (auto* m = std::get_if<sotto::app::MessageReceived>(&e); m && m->body.starts_with("pong"))
      ++echoed;
  });
  w.go_private(state.range(0) != 0);
  std::vector<double> samples;
  for (auto _ : state) {
    int want = echoed + 1;
    auto start = std::chrono::steady_clock::now();
    (void)w.alice.send_message("alice@localhost", "bob@localhost", "ping" + std::to_string(want));
    w.run_until([&] { return echoed >= want; });
    samples.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::sort(samples.begin(), samples.end());
  if (!samples.empty()) {
    state.counters["median_ms"] = samples[samples.size() / 2];
    state.counters["p99_ms"] = samples[std::min(samples.size() - 1, samples.size() * 99 / 100)];
  }
  w.alice.unsubscribe(back);
  w.bob.unsubscribe(echo);
}
BENCHMARK(BM_RoundTrip)
    ->ArgName("otr")
    ->Arg(0)
    ->Arg(1)
    ->Iterations(500)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_Burst(benchmark::State& state) {
  World& w = world();
  const int burst = static_cast<int>(state.range(0));
  w.go_private(state.range(1) != 0);
  int received = 0;
  auto sub = w.bob.subscribe([&](const sotto::app::Event& e) {
    if (auto* m = std::get_if<sotto::app::MessageReceived>(&e); m && m->body.starts_with("burst"))
      ++received;
  });
  for (auto _ : state) {
    received = 0;
    for (int i = 0; i < burst; ++i)
      (void)w.alice.send_message("alice@localhost", "bob@localhost", "burst " + std::to_string(i));
    w.run_until([&] { return received >= burst; }, 120s);
  }
  state.counters["messages_per_s"] = benchmark::Counter(
      static_cast<double>(burst) * state.iterations(), benchmark::Counter::kIsRate);
  w.bob.unsubscribe(sub);
}
BENCHMARK(BM_Burst)
    ->ArgNames({"messages", "otr"})
    ->Args({1000, 0})
    ->Args({1000, 1})
    ->Iterations(3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// From "start OTR" to both sides private: query, the four AKE messages and
// the engines' work, through the server.
void BM_OtrKeyExchange(benchmark::State& state) {
  World& w = world();
  for (auto _ : state) {
    state.PauseTiming();
    w.go_private(false);
    state.ResumeTiming();
    w.go_private(true);
  }
}
BENCHMARK(BM_OtrKeyExchange)->Iterations(50)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
