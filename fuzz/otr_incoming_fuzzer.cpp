// libFuzzer target for what the OTR engine does with bodies from the
// network: the input's first byte chooses whether Alice and Bob first run a
// real AKE (so that data messages, SMP and fragments meet a private
// conversation); the rest, split at newlines, arrives at Bob as bodies from
// Alice. Whatever Bob answers is delivered to Alice. Invariant: nothing is
// shown as having been encrypted unless the conversation is private.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "sotto/otr/otr.h"

namespace {

using namespace sotto::otr;

constexpr const char* kAlice = "alice@example.org";
constexpr const char* kBob = "bob@example.org";
constexpr const char* kAliceFull = "alice@example.org/desk";
constexpr const char* kBobFull = "bob@example.org/phone";

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "%s\n", what);
  std::abort();
}

std::string generate_key(const char* account) {
  Options options;
  options.account = account;
  auto engine = Engine::create(options, {});
  if (!engine) die("create");
  auto job = (*engine)->begin_key_generation();
  if (!job) die("begin_key_generation");
  if (!job->calculate()) die("calculate");
  if (!(*engine)->finish_key_generation(std::move(*job))) die("finish_key_generation");
  auto blob = (*engine)->export_keys();
  if (!blob) die("export_keys");
  return *blob;
}

const std::string& key_of(int who) {
  static const std::string alice = generate_key(kAlice);
  static const std::string bob = generate_key(kBob);
  return who == 0 ? alice : bob;
}

struct Pair {
  std::unique_ptr<Engine> engine[2];
  std::deque<std::pair<int, std::string>> wire;  // (to, body)

  Pair() {
    const char* accounts[2] = {kAlice, kBob};
    for (int i = 0; i < 2; ++i) {
      Options options;
      options.account = accounts[i];
      options.max_message_size = 400;
      Callbacks callbacks;
      callbacks.send = [this, i](const std::string&, const std::string& body) {
        if (wire.size() < 200) wire.emplace_back(1 - i, body);
      };
      auto created = Engine::create(options, callbacks);
      if (!created) die("create");
      engine[i] = std::move(*created);
      if (!engine[i]->import_keys(key_of(i))) die("import_keys");
    }
  }

  void deliver(int to, const std::string& body) {
    auto in = engine[to]->incoming(to == 1 ? kAliceFull : kBobFull, body);
    if (in && in->encrypted && in->text) {
      const State state = engine[to]->state(to == 1 ? kAlice : kBob);
      if (state != State::private_unverified && state != State::private_verified) {
        die("a message shown as encrypted outside a private conversation");
      }
    }
  }

  void pump() {
    for (int steps = 0; !wire.empty() && steps < 200; ++steps) {
      auto [to, body] = std::move(wire.front());
      wire.pop_front();
      deliver(to, body);
    }
    wire.clear();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Pair pair;
  if ((data[0] & 1) != 0) {
    if (!pair.engine[0]->start(kBob)) die("start");
    pair.pump();
  }
  if ((data[0] & 2) != 0) (void)pair.engine[1]->smp_secret(kAlice, "secret");
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  while (!rest.empty()) {
    const std::size_t end = rest.find('\n');
    const std::string body(rest.substr(0, end));
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    pair.deliver(1, body);
    pair.pump();
  }
  return 0;
}
