// What OTR itself costs: two otr::Engine in one process, wired to each other
// through their send callbacks (no server, no network, no store).
//
//   Ake                  start() until both sides are private (v3): fresh
//                        engines each time, with stored keys and instance tags
//   EncryptDecrypt/N     one N-byte message while private: outgoing() at
//                        Alice, incoming() at Bob
//   EncryptDecryptTurns/N  the same with the sides taking turns, as in a
//                        chat: each reply also moves the DH ratchet on
//   PlainPassThrough/N   the same through both engines with policy manual,
//                        not private (what every plain message pays)
//   SmpSecret            a whole SMP exchange with a shared secret (four
//                        messages, both sides told of success)
//
// No fragmentation (max_message_size 0). Prints the encrypted/plain ratio of
// CPU time per size after the runs.
//
//   build/release/bench/otr_bench [google benchmark flags]
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "sotto/otr/otr.h"

namespace {

using namespace sotto::otr;
using Clock = std::chrono::steady_clock;

constexpr const char* kAccount[2] = {"alice@example.org", "bob@example.org"};
constexpr const char* kFull[2] = {"alice@example.org/desk", "bob@example.org/phone"};

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "otr_bench: %s\n", what);
  std::exit(1);
}

// Keys and instance tags, made once, as the profile would hold them.
struct Stored {
  std::string keys;
  std::string instance_tags;
};
Stored g_stored[2];

// Alice (0) and Bob (1); what one sends on its own reaches the other on pump().
struct Pair {
  std::unique_ptr<Engine> engine[2];
  std::deque<std::pair<int, std::string>> wire;  // (to, body)
  std::optional<SmpStage> smp[2];
  int version[2] = {0, 0};

  explicit Pair(Policy policy) {
    for (int i = 0; i < 2; ++i) {
      Options options;
      options.account = kAccount[i];
      options.policy = policy;
      Callbacks callbacks;
      callbacks.send = [this, i](const std::string&, const std::string& body) {
        wire.emplace_back(1 - i, body);
      };
      callbacks.on_event = [this, i](const Event& event) {
        if (const auto* s = std::get_if<SmpProgress>(&event)) smp[i] = s->stage;
        if (const auto* s = std::get_if<StateChanged>(&event)) version[i] = s->protocol_version;
      };
      auto created = Engine::create(options, callbacks);
      if (!created) die("Engine::create");
      engine[i] = std::move(*created);
      if (!g_stored[i].keys.empty() && !engine[i]->import_keys(g_stored[i].keys)) {
        die("import_keys");
      }
      if (!g_stored[i].instance_tags.empty() &&
          !engine[i]->import_instance_tags(g_stored[i].instance_tags)) {
        die("import_instance_tags");
      }
    }
  }

  void pump() {
    for (int guard = 0; !wire.empty(); ++guard) {
      if (guard > 1000) die("the engines never stop talking");
      auto [to, body] = std::move(wire.front());
      wire.pop_front();
      if (!engine[to]->incoming(kFull[1 - to], body)) die("incoming");
    }
  }

  bool both_private() const {
    return engine[0]->state(kAccount[1]) != State::not_private &&
           engine[1]->state(kAccount[0]) != State::not_private;
  }

  void go_private() {
    if (!engine[0]->start(kAccount[1])) die("start");
    pump();
    if (!both_private()) die("the AKE did not finish");
  }

  // One message from `from` to the other side; false if it did not arrive
  // as sent (or arrived plain when `encrypted`).
  bool send(int from, const std::string& text, bool encrypted) {
    auto out = engine[from]->outgoing(kFull[1 - from], text);
    if (!out || out->status != Outgoing::Status::send) return false;
    std::optional<Incoming> last;
    for (const auto& body : out->bodies) {
      auto in = engine[1 - from]->incoming(kFull[from], body);
      if (!in) return false;
      last = std::move(*in);
    }
    return last && last->text && last->text->size() == text.size() && last->encrypted == encrypted;
  }
};

std::string generate_key(const char* account) {
  Options options;
  options.account = account;
  auto engine = Engine::create(options, {});
  if (!engine) die("Engine::create");
  auto job = (*engine)->begin_key_generation();
  if (!job || !job->calculate() || !(*engine)->finish_key_generation(std::move(*job))) {
    die("key generation");
  }
  auto keys = (*engine)->export_keys();
  if (!keys) die("export_keys");
  return *keys;
}

void prepare() {
  for (int i = 0; i < 2; ++i) g_stored[i].keys = generate_key(kAccount[i]);
  Pair pair(Policy::opportunistic);  // makes the instance tags
  pair.go_private();
  for (int i = 0; i < 2; ++i) {
    auto tags = pair.engine[i]->export_instance_tags();
    if (!tags) die("export_instance_tags");
    g_stored[i].instance_tags = *tags;
  }
}

std::string text_of(std::int64_t bytes) {
  std::string text(static_cast<std::size_t>(bytes), ' ');
  for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>('a' + i % 26);
  return text;
}

void BM_Ake(benchmark::State& state) {
  for (auto _ : state) {
    Pair pair(Policy::opportunistic);
    const auto start = Clock::now();
    pair.go_private();
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
    if (pair.version[0] != 3 || pair.version[1] != 3) {
      state.SkipWithError("not OTR v3");
      break;
    }
  }
}

void BM_EncryptDecrypt(benchmark::State& state) {
  Pair pair(Policy::opportunistic);
  pair.go_private();
  const std::string text = text_of(state.range(0));
  for (auto _ : state) {
    if (!pair.send(0, text, true)) {
      state.SkipWithError("a message did not arrive encrypted");
      break;
    }
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

void BM_EncryptDecryptTurns(benchmark::State& state) {
  Pair pair(Policy::opportunistic);
  pair.go_private();
  const std::string text = text_of(state.range(0));
  int from = 0;
  for (auto _ : state) {
    if (!pair.send(from, text, true)) {
      state.SkipWithError("a message did not arrive encrypted");
      break;
    }
    from = 1 - from;
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

void BM_PlainPassThrough(benchmark::State& state) {
  Pair pair(Policy::manual);
  const std::string text = text_of(state.range(0));
  for (auto _ : state) {
    if (!pair.send(0, text, false)) {
      state.SkipWithError("a plain message did not arrive as sent");
      break;
    }
  }
  if (!pair.wire.empty() || pair.both_private()) state.SkipWithError("OTR started");
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

void BM_SmpSecret(benchmark::State& state) {
  Pair pair(Policy::opportunistic);
  pair.go_private();
  for (auto _ : state) {
    pair.smp[0].reset();
    pair.smp[1].reset();
    if (!pair.engine[0]->smp_secret(kAccount[1], "correct horse battery staple")) die("smp_secret");
    pair.pump();
    if (pair.smp[1] != SmpStage::asked_secret) die("Bob was not asked");
    if (!pair.engine[1]->smp_respond(kAccount[0], "correct horse battery staple")) {
      die("smp_respond");
    }
    pair.pump();
    if (pair.smp[0] != SmpStage::succeeded || pair.smp[1] != SmpStage::succeeded) {
      state.SkipWithError("SMP did not succeed on both sides");
      break;
    }
  }
}

BENCHMARK(BM_Ake)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_EncryptDecrypt)->Arg(16)->Arg(256)->Arg(4096)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_EncryptDecryptTurns)->Arg(16)->Arg(256)->Arg(4096)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PlainPassThrough)->Arg(16)->Arg(256)->Arg(4096)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SmpSecret)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// Keeps each run's CPU time per iteration (the best of repetitions, or the
// median when only aggregates are reported) for the ratios printed at the
// end: CPU time, because a busy machine inflates wall time, not the work.
class Reporter : public benchmark::ConsoleReporter {
 public:
  Reporter() : ConsoleReporter(::isatty(STDOUT_FILENO) != 0 ? OO_Defaults : OO_Tabular) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      const bool usable = run.run_type == Run::RT_Iteration ||
                          (run.run_type == Run::RT_Aggregate && run.aggregate_name == "median");
      if (!usable || run.error_occurred || run.iterations == 0) continue;
      const double seconds = run.cpu_accumulated_time / static_cast<double>(run.iterations);
      auto [it, added] = seconds_.emplace(run.run_name.str(), seconds);
      if (!added) it->second = std::min(it->second, seconds);
    }
    ConsoleReporter::ReportRuns(runs);
  }

  std::optional<double> seconds(const std::string& name) const {
    auto it = seconds_.find(name);
    if (it == seconds_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::map<std::string, double> seconds_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  prepare();
  Reporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);

  bool heading = false;
  for (const char* size : {"16", "256", "4096"}) {
    auto plain = reporter.seconds(std::string("BM_PlainPassThrough/") + size);
    auto one_way = reporter.seconds(std::string("BM_EncryptDecrypt/") + size);
    auto turns = reporter.seconds(std::string("BM_EncryptDecryptTurns/") + size);
    if (!plain || !one_way || !turns) continue;
    if (!heading) {
      std::printf("\nCPU per message, encrypted (one way / taking turns) against plain:\n");
      heading = true;
    }
    std::printf("  %5s B: %8.1f us / %8.1f us against %6.2f us: %6.0fx / %6.0fx\n", size,
                *one_way * 1e6, *turns * 1e6, *plain * 1e6, *one_way / *plain, *turns / *plain);
  }
  benchmark::Shutdown();
  return 0;
}
