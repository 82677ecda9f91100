// libFuzzer target for the Pidgin import (sotto/otr/pidgin.h): the input's
// first byte chooses otr.private_key (even) or otr.fingerprints (odd), the
// rest is the file's text. Invariant: what the import hands out, libotr reads
// as the import counted it: a key gives the engine its key, and every
// fingerprint counted is one the engine knows.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "sotto/otr/otr.h"
#include "sotto/otr/pidgin.h"

namespace {

using namespace sotto::otr;

constexpr const char* kAlice = "alice@example.org";

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "%s\n", what);
  std::abort();
}

std::unique_ptr<Engine> engine() {
  Options options;
  options.account = kAlice;
  options.protocol = "xmpp";
  auto created = Engine::create(options, {});
  if (!created) die("create");
  return std::move(*created);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    auto keys = pidgin_keys_for(text, kAlice, "xmpp");
    if (!keys) {
      if (keys.error().message.empty()) die("an error without a message");
      return 0;
    }
    if (keys->count > 1) die("more than one key");
    if (keys->count == 0) {
      if (!keys->blob.empty()) die("a blob without a key");
      return 0;
    }
    auto e = engine();
    if (!e->import_keys(keys->blob)) die("libotr refuses the key the import wrote");
    if (!e->has_key() || !e->fingerprint()) die("the imported key is not the account's");
    sotto::secure_wipe(keys->blob);
  } else {
    auto trust = pidgin_fingerprints_for(text, kAlice, "xmpp");
    if (!trust) {
      if (trust.error().message.empty()) die("an error without a message");
      return 0;
    }
    auto e = engine();
    if (!e->import_trust(trust->blob)) die("libotr refuses the fingerprints the import wrote");
    if (e->known_fingerprints().size() != trust->count) die("libotr knows another count");
  }
  return 0;
}
