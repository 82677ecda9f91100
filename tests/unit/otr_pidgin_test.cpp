// Pidgin-OTR's otr.private_key and otr.fingerprints: one account's entries
// picked out, renamed, and read by a fresh Engine as if generated there.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sotto/otr/otr.h"
#include "sotto/otr/pidgin.h"

namespace sotto::otr {
namespace {

constexpr const char* kAlice = "alice@example.org";
constexpr const char* kBob = "bob@example.org";
constexpr const char* kAliceFull = "alice@example.org/desk";
constexpr const char* kBobFull = "bob@example.org/phone";
constexpr std::string_view kNotKeys = "this is not a Pidgin otr.private_key file";
constexpr std::string_view kNotFingerprints = "this is not a Pidgin otr.fingerprints file";

std::unique_ptr<Engine> make_engine(const std::string& account, Callbacks callbacks = {}) {
  Options options;
  options.account = account;
  options.protocol = "xmpp";
  auto engine = Engine::create(options, std::move(callbacks));
  EXPECT_TRUE(engine);
  return engine ? std::move(*engine) : nullptr;
}

std::string generate_key(const std::string& account) {
  auto engine = make_engine(account);
  auto job = engine->begin_key_generation();
  EXPECT_TRUE(job);
  EXPECT_TRUE(job->calculate());
  EXPECT_TRUE(engine->finish_key_generation(std::move(*job)));
  auto blob = engine->export_keys();
  EXPECT_TRUE(blob);
  return blob ? *blob : std::string();
}

std::string fingerprint_of(const std::string& account, const std::string& keys) {
  auto engine = make_engine(account);
  EXPECT_TRUE(engine->import_keys(keys));
  return engine->fingerprint().value_or("");
}

// "AAAA1111 BBBB2222 ..." as otr.fingerprints spells it.
std::string hex_of(std::string human) {
  std::string hex;
  for (char c : human) {
    if (c != ' ') hex += static_cast<char>(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
  }
  return hex;
}

std::string replace_once(std::string text, std::string_view from, std::string_view to) {
  const std::size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "no " << from << " in " << text;
  if (at == std::string::npos) return text;
  return text.replace(at, from.size(), to);
}

// The (account ...) entry of an Engine's export_keys(), as Pidgin-OTR writes
// it: its account name carries Pidgin's resource, its protocol is
// prpl-jabber.
std::string pidgin_entry(const std::string& exported, const std::string& account,
                         const std::string& pidgin_name,
                         const std::string& protocol = "prpl-jabber") {
  const std::string head = "(privkeys\n";
  EXPECT_EQ(exported.rfind(head, 0), 0u);
  const std::size_t last = exported.rfind(')');
  std::string entry = exported.substr(head.size(), last - head.size());
  entry = replace_once(entry, "(name \"" + account + "\")", "(name \"" + pidgin_name + "\")");
  return replace_once(entry, "(protocol xmpp)", "(protocol " + protocol + ")");
}

std::string pidgin_file(const std::vector<std::string>& entries) {
  std::string file = "(privkeys\n";
  for (const auto& e : entries) file += e;
  return file + ")\n";
}

// Alice and Bob in one process, wired to each other.
struct Pair {
  std::unique_ptr<Engine> alice;
  std::unique_ptr<Engine> bob;
  std::deque<std::pair<bool, std::string>> wire;  // (to Bob, body)

  Pair(const std::string& alice_keys, const std::string& bob_keys) {
    Callbacks to_bob;
    to_bob.send = [this](const std::string&, const std::string& body) {
      wire.emplace_back(true, body);
    };
    Callbacks to_alice;
    to_alice.send = [this](const std::string&, const std::string& body) {
      wire.emplace_back(false, body);
    };
    alice = make_engine(kAlice, to_bob);
    bob = make_engine(kBob, to_alice);
    EXPECT_TRUE(alice->import_keys(alice_keys));
    EXPECT_TRUE(bob->import_keys(bob_keys));
  }

  void go_private() {
    ASSERT_TRUE(alice->start(kBob));
    for (int guard = 0; !wire.empty() && guard < 100; ++guard) {
      auto [to_bob, body] = std::move(wire.front());
      wire.pop_front();
      if (to_bob) {
        ASSERT_TRUE(bob->incoming(kAliceFull, body));
      } else {
        ASSERT_TRUE(alice->incoming(kBobFull, body));
      }
    }
    ASSERT_NE(alice->state(kBob), State::not_private);
  }
};

class OtrPidginTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    alice_keys_ = new std::string(generate_key(kAlice));
    bob_keys_ = new std::string(generate_key(kBob));
  }
  static void TearDownTestSuite() {
    delete alice_keys_;
    delete bob_keys_;
  }

  static const std::string& alice_keys() { return *alice_keys_; }
  static const std::string& bob_keys() { return *bob_keys_; }
  std::string alice_fp() const { return fingerprint_of(kAlice, alice_keys()); }
  std::string bob_fp() const { return fingerprint_of(kBob, bob_keys()); }

  // Alice's and Bob's keys under Pidgin's names, and Bob's key again as
  // Alice's for another protocol (a trap for a reader that ignores it).
  std::string three_account_file() const {
    return pidgin_file({pidgin_entry(bob_keys(), kBob, "alice@example.org/Pidgin", "prpl-irc"),
                        pidgin_entry(bob_keys(), kBob, "bob@example.org/Pidgin"),
                        pidgin_entry(alice_keys(), kAlice, "Alice@Example.ORG/Pidgin")});
  }

  static std::string* alice_keys_;
  static std::string* bob_keys_;
};

std::string* OtrPidginTest::alice_keys_ = nullptr;
std::string* OtrPidginTest::bob_keys_ = nullptr;

TEST_F(OtrPidginTest, AccountKeyImportsUnderSottosNames) {
  auto keys = pidgin_keys_for(three_account_file(), kAlice, "xmpp");
  ASSERT_TRUE(keys) << keys.error().message;
  EXPECT_EQ(keys->count, 1u);
  EXPECT_EQ(keys->blob.find("prpl-"), std::string::npos);
  EXPECT_EQ(keys->blob.find("Pidgin"), std::string::npos);

  auto fresh = make_engine(kAlice);
  EXPECT_FALSE(fresh->has_key());
  ASSERT_TRUE(fresh->import_keys(keys->blob));
  EXPECT_TRUE(fresh->has_key());
  EXPECT_EQ(fresh->fingerprint(), alice_fp());

  // The same file gives Bob his own key.
  auto bobs = pidgin_keys_for(three_account_file(), kBob, "xmpp");
  ASSERT_TRUE(bobs);
  auto bob = make_engine(kBob);
  ASSERT_TRUE(bob->import_keys(bobs->blob));
  EXPECT_EQ(bob->fingerprint(), bob_fp());
}

TEST_F(OtrPidginTest, ImportedKeyIsTheOneContactsKnow) {
  auto keys = pidgin_keys_for(three_account_file(), kAlice, "xmpp");
  ASSERT_TRUE(keys);
  Pair pair(keys->blob, bob_keys());
  pair.go_private();
  EXPECT_EQ(pair.bob->peer_fingerprint(kAlice), alice_fp());
}

// libotr writes the newest key last.
TEST_F(OtrPidginTest, LastKeyOfSeveralResourcesWins) {
  const std::string alice_first =
      pidgin_file({pidgin_entry(alice_keys(), kAlice, "alice@example.org/Pidgin"),
                   pidgin_entry(bob_keys(), kBob, "alice@example.org/laptop")});
  const std::string bob_first =
      pidgin_file({pidgin_entry(bob_keys(), kBob, "alice@example.org/laptop"),
                   pidgin_entry(alice_keys(), kAlice, "alice@example.org")});
  auto keys = pidgin_keys_for(alice_first, kAlice, "xmpp");
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->count, 1u);
  EXPECT_EQ(fingerprint_of(kAlice, keys->blob), bob_fp());
  keys = pidgin_keys_for(bob_first, kAlice, "xmpp");
  ASSERT_TRUE(keys);
  EXPECT_EQ(fingerprint_of(kAlice, keys->blob), alice_fp());
}

TEST_F(OtrPidginTest, NoEntryForTheAccountIsCountZero) {
  for (const std::string& file :
       {three_account_file(), std::string("(privkeys)"), std::string("(privkeys\n)\n"),
        std::string(), std::string(" \n")}) {
    auto keys = pidgin_keys_for(file, "carol@example.org", "xmpp");
    ASSERT_TRUE(keys) << keys.error().message;
    EXPECT_EQ(keys->count, 0u);
    EXPECT_TRUE(keys->blob.empty());
  }
}

// libgcrypt reads the same string spelled in several ways; so do we.
TEST_F(OtrPidginTest, NamesInEverySpellingLibgcryptReads) {
  const std::string entry = pidgin_entry(alice_keys(), kAlice, "alice@example.org/Pidgin");
  const std::string quoted = "(name \"alice@example.org/Pidgin\")";
  const std::string spellings[] = {
      "(name 24:alice@example.org/Pidgin)",
      "(name #616c696365406578616d706c652e6f72672f506964676 96e#)",
      "(name 24#616c696365406578616d706c652e6f72672f50696467696e#)",
      "(name \"alice\\100example.org/Pi\\x64gin\")",
      "(name \"alice@example.org/Pid\\\ngin\")",
      "(name 24\"alice@example.org/Pidgin\")",
      "(name\n\t  \"alice@example.org/Pidgin\"  )",
  };
  for (const std::string& spelling : spellings) {
    std::string file = pidgin_file({replace_once(entry, quoted, spelling)});
    file = replace_once(file, "(protocol prpl-jabber)", "(protocol 11:prpl-jabber)");
    auto keys = pidgin_keys_for(file, kAlice, "xmpp");
    ASSERT_TRUE(keys) << spelling << ": " << keys.error().message;
    ASSERT_EQ(keys->count, 1u) << spelling;
    EXPECT_EQ(fingerprint_of(kAlice, keys->blob), alice_fp()) << spelling;
  }
}

TEST_F(OtrPidginTest, NamesNeedNotBeAddressesOfThisAccount) {
  // Other protocols name accounts in their own ways; they are skipped, not refused.
  const std::string file =
      pidgin_file({pidgin_entry(bob_keys(), kBob, "bob", "prpl-icq"),
                   pidgin_entry(bob_keys(), kBob, "@@@ not an address", "prpl-jabber"),
                   pidgin_entry(alice_keys(), kAlice, "alice@example.org/Pidgin")});
  auto keys = pidgin_keys_for(file, kAlice, "xmpp");
  ASSERT_TRUE(keys) << keys.error().message;
  EXPECT_EQ(fingerprint_of(kAlice, keys->blob), alice_fp());
}

TEST_F(OtrPidginTest, MalformedKeyFilesAreRefusedWithAReason) {
  const std::string good = three_account_file();
  const std::string cases[] = {
      "garbage",
      "hello world (privkeys)",
      "(privkeys",
      "(privkeys))",
      "(privkeys (account)",
      ")(",
      "(privkeys) trailing",
      "(privkeys (account (name \"alice@example.org\")))",
      "(privkeys (notaccount (name \"a@b\") (protocol prpl-jabber) (private-key)))",
      "(privkeys (account (name \"unterminated",
      "(privkeys (account (name \"bad \\q escape\")))",
      "(privkeys (account (name \"bad \\400 octal\")))",
      "(privkeys (account (name #abc#)))",
      "(privkeys (account (name #zz#)))",
      "(privkeys (account (name 99:short)))",
      "(privkeys (account (name 3\"four\")))",
      "(privkeys (account (name 12)))",
      "(privkeys (account (name |YWJj|)))",
      "(privkeys (account (name [hint] x)))",
      "(privkeys (account (name {transport})))",
      "(public-key (dsa (p #01#)))",
      "privkeys",
      "#00#",
      std::string("(privkeys\0)", 11),
      good.substr(0, good.size() / 2),
      good + good,
  };
  for (const std::string& text : cases) {
    auto keys = pidgin_keys_for(text, kAlice, "xmpp");
    ASSERT_FALSE(keys) << text;
    EXPECT_EQ(keys.error().code, Errc::invalid_argument) << text;
    EXPECT_EQ(keys.error().message.rfind(kNotKeys, 0), 0u) << keys.error().message;
  }
}

TEST_F(OtrPidginTest, EveryTruncationOfAKeyFileIsRefused) {
  const std::string good = three_account_file();
  const std::size_t last = good.rfind(')');
  for (std::size_t cut = 1; cut < last; ++cut) {
    auto keys = pidgin_keys_for(std::string_view(good).substr(0, cut), kAlice, "xmpp");
    ASSERT_FALSE(keys) << cut;
    EXPECT_EQ(keys.error().code, Errc::invalid_argument);
  }
}

TEST_F(OtrPidginTest, KeyThatIsNotDsaIsRefused) {
  const std::string file =
      "(privkeys (account (name \"alice@example.org/Pidgin\") (protocol prpl-jabber)"
      " (private-key (rsa (n #00C1#) (e #010001#)))))";
  auto keys = pidgin_keys_for(file, kAlice, "xmpp");
  ASSERT_FALSE(keys);
  EXPECT_EQ(keys.error().code, Errc::invalid_argument);
  EXPECT_NE(keys.error().message.find("DSA"), std::string::npos);
  // Another account's odd key is not our business.
  auto bobs = pidgin_keys_for(file, kBob, "xmpp");
  ASSERT_TRUE(bobs);
  EXPECT_EQ(bobs->count, 0u);
}

TEST_F(OtrPidginTest, HugeAndDeepInputsAreRefused) {
  const std::string huge(9u << 20, '(');
  auto keys = pidgin_keys_for(huge, kAlice, "xmpp");
  ASSERT_FALSE(keys);
  EXPECT_EQ(keys.error().code, Errc::invalid_argument);

  const std::string deep = std::string(100000, '(') + std::string(100000, ')');
  keys = pidgin_keys_for(deep, kAlice, "xmpp");
  ASSERT_FALSE(keys);
  EXPECT_NE(keys.error().message.find("nested"), std::string::npos);

  const std::string long_atom = "(privkeys (account (name #" + std::string(140000, 'a') + "#)))";
  keys = pidgin_keys_for(long_atom, kAlice, "xmpp");
  ASSERT_FALSE(keys);
  EXPECT_NE(keys.error().message.find("too long"), std::string::npos);

  auto trust = pidgin_fingerprints_for(std::string(9u << 20, 'a'), kAlice, "xmpp");
  ASSERT_FALSE(trust);
  EXPECT_EQ(trust.error().code, Errc::invalid_argument);
}

TEST_F(OtrPidginTest, RandomBytesNeverCrash) {
  std::mt19937 random(4);
  const std::string alphabet = "()\"#|[]{}:\\ \t\nabcxyz0123456789@./-";
  for (int round = 0; round < 2000; ++round) {
    std::string text(random() % 200, ' ');
    for (char& c : text) {
      c = round % 2 == 0 ? alphabet[random() % alphabet.size()] : static_cast<char>(random());
    }
    (void)pidgin_keys_for(text, kAlice, "xmpp");
    (void)pidgin_fingerprints_for(text, kAlice, "xmpp");
  }
}

TEST_F(OtrPidginTest, BadAccountOrProtocolIsRefused) {
  for (const char* account : {"", "not an address", "alice@example.org/Pidgin", "example.org"}) {
    auto keys = pidgin_keys_for("(privkeys)", account, "xmpp");
    ASSERT_FALSE(keys) << account;
    EXPECT_EQ(keys.error().code, Errc::invalid_argument);
    auto trust = pidgin_fingerprints_for("", account, "xmpp");
    ASSERT_FALSE(trust) << account;
    EXPECT_EQ(trust.error().code, Errc::invalid_argument);
  }
  for (const char* protocol : {"", "x mpp", "xm\tpp"}) {
    EXPECT_FALSE(pidgin_keys_for("(privkeys)", kAlice, protocol)) << protocol;
    EXPECT_FALSE(pidgin_fingerprints_for("", kAlice, protocol)) << protocol;
  }
}

// --- otr.fingerprints -----------------------------------------------------------

TEST_F(OtrPidginTest, FingerprintsOfTheAccountImportWithTheirTrust) {
  // Alice's engine meets Bob and writes what it knows, as libotr writes it.
  Pair first(alice_keys(), bob_keys());
  first.go_private();
  auto exported = first.alice->export_trust();
  ASSERT_TRUE(exported);
  const std::string bob_hex = hex_of(bob_fp());
  ASSERT_EQ(*exported, std::string(kBob) + "\t" + kAlice + "\txmpp\t" + bob_hex + "\t\n");

  // The same as Pidgin would have it, with more resources, contacts,
  // accounts and protocols.
  std::string pidgin =
      replace_once(*exported, "bob@example.org\talice@example.org\txmpp",
                   "Bob@Example.org/Pidgin\talice@example.org/Pidgin\tprpl-jabber");
  pidgin += "bob@example.org\talice@example.org/laptop\tprpl-jabber\t" + bob_hex + "\tverified\n";
  pidgin += "bob@example.org/phone\tALICE@example.org/Pidgin\tprpl-jabber\t" + bob_hex + "\t\r\n";
  pidgin += "carol@example.org\talice@example.org/Pidgin\tprpl-jabber\t" + std::string(40, 'C') +
            "\tsmp\n";
  pidgin +=
      "dave@example.org\talice@example.org/Pidgin\tprpl-jabber\t" + std::string(40, 'd') + "\t\n";
  pidgin += "erin@example.org\tbob@example.org/Pidgin\tprpl-jabber\t" + std::string(40, 'e') +
            "\tverified\n";
  pidgin += "frank\talice@example.org\tprpl-icq\t" + std::string(40, 'f') + "\tverified\n";

  auto trust = pidgin_fingerprints_for(pidgin, kAlice, "xmpp");
  ASSERT_TRUE(trust) << trust.error().message;
  EXPECT_EQ(trust->count, 3u);
  EXPECT_EQ(trust->skipped, 0u);
  EXPECT_EQ(trust->blob.find("Pidgin"), std::string::npos);

  auto alice = make_engine(kAlice);
  ASSERT_TRUE(alice->import_keys(alice_keys()));
  ASSERT_TRUE(alice->import_trust(trust->blob));
  auto known = alice->known_fingerprints();
  ASSERT_EQ(known.size(), 3u);
  std::vector<std::string> peers;
  for (const auto& k : known) peers.push_back(k.peer);
  std::sort(peers.begin(), peers.end());
  EXPECT_EQ(peers, (std::vector<std::string>{kBob, "carol@example.org", "dave@example.org"}));
  for (const auto& k : known) {
    if (k.peer == kBob) {
      EXPECT_EQ(k.fingerprint, bob_fp());
      EXPECT_TRUE(k.verified);  // "verified" wins over the other resources' ""
    } else if (k.peer == "carol@example.org") {
      EXPECT_EQ(k.fingerprint, "CCCCCCCC CCCCCCCC CCCCCCCC CCCCCCCC CCCCCCCC");
      EXPECT_TRUE(k.verified);  // "smp"
    } else {
      EXPECT_EQ(k.fingerprint, "DDDDDDDD DDDDDDDD DDDDDDDD DDDDDDDD DDDDDDDD");
      EXPECT_FALSE(k.verified);
    }
  }

  // What the user sees: the conversation with Bob is private and verified.
  auto keys = alice->export_keys();
  auto blob = alice->export_trust();
  ASSERT_TRUE(keys && blob);
  Pair second(*keys, bob_keys());
  ASSERT_TRUE(second.alice->import_trust(*blob));
  second.go_private();
  EXPECT_EQ(second.alice->state(kBob), State::private_verified);
}

TEST_F(OtrPidginTest, BrokenFingerprintLinesAreSkippedAndCounted) {
  const std::string hex(40, 'a');
  std::string file;
  file += "bob@example.org\talice@example.org/Pidgin\tprpl-jabber\t" + hex + "\tverified\n";
  file += "carol@example.org\talice@example.org/Pidgin\tprpl-jabber\t" + std::string(40, 'x') +
          "\t\n";                                                              // not hex
  file += "dave@example.org\talice@example.org/Pidgin\tprpl-jabber\tabc\t\n";  // short
  file += "not an address\talice@example.org/Pidgin\tprpl-jabber\t" + hex + "\t\n";
  file += "erin@example.org\talice@example.org/Pidgin\tprpl-jabber\t" + hex + "\ta\tb\n";
  file += "\n   \n";
  file += "frank@example.org\talice@example.org/Pidgin\tprpl-jab";  // truncated
  auto trust = pidgin_fingerprints_for(file, kAlice, "xmpp");
  ASSERT_TRUE(trust) << trust.error().message;
  EXPECT_EQ(trust->count, 1u);
  EXPECT_EQ(trust->skipped, 5u);
  EXPECT_EQ(trust->blob, "bob@example.org\talice@example.org\txmpp\t" + hex + "\tverified\n");

  // Four fields (no trust) is libotr's older form.
  trust = pidgin_fingerprints_for(
      "bob@example.org\talice@example.org\tprpl-jabber\t" + std::string(40, 'B'), kAlice, "xmpp");
  ASSERT_TRUE(trust);
  EXPECT_EQ(trust->blob,
            "bob@example.org\talice@example.org\txmpp\t" + std::string(40, 'b') + "\t\n");
}

TEST_F(OtrPidginTest, FingerprintFilesWithoutTheAccountGiveCountZero) {
  for (const std::string& file : {std::string(), std::string("\n\n"),
                                  "bob@example.org\tcarol@example.org/Pidgin\tprpl-jabber\t" +
                                      std::string(40, 'a') + "\t\n"}) {
    auto trust = pidgin_fingerprints_for(file, kAlice, "xmpp");
    ASSERT_TRUE(trust) << trust.error().message;
    EXPECT_EQ(trust->count, 0u);
    EXPECT_TRUE(trust->blob.empty());
  }
}

TEST_F(OtrPidginTest, WhatIsNotAFingerprintFileIsRefused) {
  for (const std::string& file :
       {std::string("garbage"), std::string("garbage\nmore garbage\n"), three_account_file(),
        std::string("a\tb\tc\td\te\n"), std::string("bob\0alice", 9)}) {
    auto trust = pidgin_fingerprints_for(file, kAlice, "xmpp");
    ASSERT_FALSE(trust) << file;
    EXPECT_EQ(trust.error().code, Errc::invalid_argument);
    EXPECT_EQ(trust.error().message.rfind(kNotFingerprints, 0), 0u) << trust.error().message;
  }
}

}  // namespace
}  // namespace sotto::otr
