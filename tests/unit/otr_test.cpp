// Two OTR engines in one process over an in-memory wire that can drop,
// reorder, truncate or garble what passes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "sotto/otr/otr.h"

namespace sotto::otr {
namespace {

constexpr const char* kAlice = "alice@example.org";
constexpr const char* kBob = "bob@example.org";
constexpr const char* kAliceFull = "alice@example.org/desk";
constexpr const char* kBobFull = "bob@example.org/phone";

std::string generate_key(const std::string& account) {
  Options options;
  options.account = account;
  auto engine = Engine::create(options, {});
  EXPECT_TRUE(engine);
  auto job = (*engine)->begin_key_generation();
  EXPECT_TRUE(job);
  // A second generation for the same account is refused while one runs.
  EXPECT_FALSE((*engine)->begin_key_generation());
  bool calculated = false;
  std::thread worker([&] { calculated = job->calculate().has_value(); });
  worker.join();
  EXPECT_TRUE(calculated);
  EXPECT_TRUE((*engine)->finish_key_generation(std::move(*job)));
  EXPECT_TRUE((*engine)->has_key());
  auto blob = (*engine)->export_keys();
  EXPECT_TRUE(blob);
  return blob ? *blob : std::string();
}

struct Party {
  std::string address;       // full address
  std::string peer_address;  // the other side's full address
  std::unique_ptr<Engine> engine;
  std::vector<Event> events;
  std::vector<Incoming> received;
  std::vector<std::string> sent;  // every body this party put on the wire
  std::string trust_blob;
  std::string keys_blob;
  int trust_changes = 0;

  template <class T>
  std::vector<T> events_of() const {
    std::vector<T> out;
    for (const Event& e : events) {
      if (auto* t = std::get_if<T>(&e)) out.push_back(*t);
    }
    return out;
  }
  bool has_smp(SmpStage stage) const {
    for (const auto& e : events_of<SmpProgress>()) {
      if (e.stage == stage) return true;
    }
    return false;
  }
  bool has_problem() const { return !events_of<MessageProblem>().empty(); }
  std::vector<std::string> texts() const {
    std::vector<std::string> out;
    for (const auto& in : received) {
      if (in.text) out.push_back(*in.text);
    }
    return out;
  }
};

struct Packet {
  int to;
  std::string body;
};

class OtrTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    alice_key_ = new std::string(generate_key(kAlice));
    bob_key_ = new std::string(generate_key(kBob));
    bob_key2_ = new std::string(generate_key(kBob));
  }
  static void TearDownTestSuite() {
    delete alice_key_;
    delete bob_key_;
    delete bob_key2_;
  }

  void SetUp() override {
    make(0, kAlice, kAliceFull, kBobFull, *alice_key_);
    make(1, kBob, kBobFull, kAliceFull, *bob_key_);
  }

  void make(int i, const char* account, const char* address, const char* peer,
            const std::string& key, Options options = {}) {
    Party& p = party_[i];
    p = Party{};
    p.address = address;
    p.peer_address = peer;
    options.account = account;
    Callbacks cb;
    cb.send = [this, i](const std::string& to, const std::string& body) {
      // The full address once seen, the bare one before.
      const std::string& full = party_[i].peer_address;
      EXPECT_TRUE(to == full || to == full.substr(0, full.find('/'))) << to;
      put(i, body);
    };
    cb.on_event = [this, i](const Event& e) { party_[i].events.push_back(e); };
    cb.on_trust_changed = [this, i](const std::string& blob) {
      party_[i].trust_blob = blob;
      ++party_[i].trust_changes;
    };
    cb.on_keys_changed = [this, i](const std::string& blob) { party_[i].keys_blob = blob; };
    auto engine = Engine::create(options, cb);
    ASSERT_TRUE(engine);
    p.engine = std::move(*engine);
    if (!key.empty()) {
      ASSERT_TRUE(p.engine->import_keys(key));
    }
  }

  void put(int from, const std::string& body) {
    party_[from].sent.push_back(body);
    wire_.push_back(Packet{1 - from, body});
  }

  // Sends what the user typed at party `from`; returns the outgoing status.
  Outgoing::Status say(int from, const std::string& text) {
    auto out = party_[from].engine->outgoing(party_[1 - from].address, text);
    EXPECT_TRUE(out);
    if (!out) return Outgoing::Status::refused;
    for (const auto& body : out->bodies) put(from, body);
    return out->status;
  }

  void deliver(const Packet& p) {
    Party& to = party_[p.to];
    auto in = to.engine->incoming(to.peer_address, p.body);
    ASSERT_TRUE(in);
    if (in->text) to.received.push_back(*in);
  }

  // Delivers everything on the wire, in order, until it is quiet. `filter`
  // may change a packet or drop it (return false).
  void pump(const std::function<bool(Packet&)>& filter = {}) {
    for (int guard = 0; !wire_.empty() && guard < 1000; ++guard) {
      Packet p = wire_.front();
      wire_.pop_front();
      if (filter && !filter(p)) continue;
      deliver(p);
    }
    EXPECT_TRUE(wire_.empty());
  }

  void go_private() {
    ASSERT_TRUE(alice().start(kBob));
    pump();
    ASSERT_EQ(alice().state(kBob), State::private_unverified);
    ASSERT_EQ(bob().state(kAlice), State::private_unverified);
  }

  void expect_all_encrypted(int i) {
    for (const auto& body : party_[i].sent) {
      EXPECT_EQ(body.rfind("?OTR", 0), 0u) << "plain on the wire: " << body;
    }
  }

  int last_version(int i) {
    auto changes = party_[i].events_of<StateChanged>();
    return changes.empty() ? -1 : changes.back().protocol_version;
  }

  Engine& alice() { return *party_[0].engine; }
  Engine& bob() { return *party_[1].engine; }

  static std::string* alice_key_;
  static std::string* bob_key_;
  static std::string* bob_key2_;
  Party party_[2];
  std::deque<Packet> wire_;
};

std::string* OtrTest::alice_key_ = nullptr;
std::string* OtrTest::bob_key_ = nullptr;
std::string* OtrTest::bob_key2_ = nullptr;

TEST_F(OtrTest, FingerprintIsHumanFormat) {
  auto fp = alice().fingerprint();
  ASSERT_TRUE(fp);
  ASSERT_EQ(fp->size(), 44u);  // 5 groups of 8 hex digits, 4 spaces
  for (std::size_t i = 0; i < fp->size(); ++i) {
    if (i % 9 == 8) {
      EXPECT_EQ((*fp)[i], ' ');
    } else {
      EXPECT_TRUE(std::isxdigit(static_cast<unsigned char>((*fp)[i])));
    }
  }
  EXPECT_NE(*fp, *bob().fingerprint());
}

TEST_F(OtrTest, AkeNegotiatesV3BetweenSottoEngines) {
  go_private();
  EXPECT_EQ(last_version(0), 3);
  EXPECT_EQ(last_version(1), 3);
  EXPECT_EQ(alice().peer_fingerprint(kBob), bob().fingerprint());
  EXPECT_EQ(bob().peer_fingerprint(kAlice), alice().fingerprint());
  ASSERT_EQ(party_[1].events_of<NewFingerprint>().size(), 1u);
  EXPECT_TRUE(party_[0].events_of<KeyChanged>().empty());

  party_[0].sent.clear();
  party_[1].sent.clear();
  EXPECT_EQ(say(0, "hello bob"), Outgoing::Status::send);
  EXPECT_EQ(say(1, "hello alice"), Outgoing::Status::send);
  pump();
  ASSERT_EQ(party_[1].texts(), std::vector<std::string>{"hello bob"});
  EXPECT_TRUE(party_[1].received.back().encrypted);
  ASSERT_EQ(party_[0].texts(), std::vector<std::string>{"hello alice"});
  EXPECT_TRUE(party_[0].received.back().encrypted);
  expect_all_encrypted(0);
  expect_all_encrypted(1);
  for (const auto& body : party_[0].sent) EXPECT_EQ(body.find("hello"), std::string::npos);
}

TEST_F(OtrTest, AkeFallsBackToV2WhenThePeerSpeaksOnlyV2) {
  Options v2_only;
  v2_only.versions.v3 = false;
  make(1, kBob, kBobFull, kAliceFull, *bob_key_, v2_only);
  go_private();
  EXPECT_EQ(last_version(0), 2);
  EXPECT_EQ(last_version(1), 2);
  say(0, "over v2");
  say(1, "back over v2");
  pump();
  EXPECT_EQ(party_[1].texts(), std::vector<std::string>{"over v2"});
  EXPECT_EQ(party_[0].texts(), std::vector<std::string>{"back over v2"});
  expect_all_encrypted(0);
  expect_all_encrypted(1);
}

TEST_F(OtrTest, OpportunisticWhitespaceTagStartsOtr) {
  EXPECT_EQ(say(0, "plain hello"), Outgoing::Status::send);
  ASSERT_EQ(party_[0].sent.size(), 1u);
  EXPECT_NE(party_[0].sent[0], "plain hello");  // whitespace tag appended
  pump();
  ASSERT_EQ(party_[1].texts(), std::vector<std::string>{"plain hello"});
  EXPECT_FALSE(party_[1].received[0].encrypted);
  EXPECT_EQ(alice().state(kBob), State::private_unverified);
  EXPECT_EQ(bob().state(kAlice), State::private_unverified);
}

TEST_F(OtrTest, ManualPolicySendsPlainUntilStarted) {
  alice().set_policy(Policy::manual);
  say(0, "plain");
  EXPECT_EQ(party_[0].sent.back(), "plain");
  pump();
  EXPECT_EQ(alice().state(kBob), State::not_private);
}

TEST_F(OtrTest, SmpQuestionAndAnswerSucceeds) {
  go_private();
  ASSERT_TRUE(alice().smp_ask(kBob, "Where did we meet?", "Lisbon"));
  pump();
  auto asked = party_[1].events_of<SmpProgress>();
  ASSERT_FALSE(asked.empty());
  EXPECT_EQ(asked.front().stage, SmpStage::asked_question);
  EXPECT_EQ(asked.front().question, "Where did we meet?");
  ASSERT_TRUE(bob().smp_respond(kAlice, "Lisbon"));
  pump();
  EXPECT_TRUE(party_[0].has_smp(SmpStage::succeeded));
  EXPECT_TRUE(party_[1].has_smp(SmpStage::succeeded));
  EXPECT_EQ(alice().state(kBob), State::private_verified);
  EXPECT_GT(party_[0].trust_changes, 0);
  expect_all_encrypted(0);
  expect_all_encrypted(1);
}

TEST_F(OtrTest, SmpWrongAnswerFails) {
  go_private();
  ASSERT_TRUE(alice().smp_ask(kBob, "Where did we meet?", "Lisbon"));
  pump();
  ASSERT_TRUE(bob().smp_respond(kAlice, "Porto"));
  pump();
  EXPECT_TRUE(party_[0].has_smp(SmpStage::failed));
  EXPECT_TRUE(party_[1].has_smp(SmpStage::failed));
  EXPECT_EQ(alice().state(kBob), State::private_unverified);
  EXPECT_EQ(bob().state(kAlice), State::private_unverified);
}

TEST_F(OtrTest, SmpSharedSecretSucceedsOnBothSides) {
  go_private();
  ASSERT_TRUE(alice().smp_secret(kBob, "correct horse"));
  pump();
  ASSERT_TRUE(party_[1].has_smp(SmpStage::asked_secret));
  ASSERT_TRUE(bob().smp_respond(kAlice, "correct horse"));
  pump();
  EXPECT_TRUE(party_[0].has_smp(SmpStage::succeeded));
  EXPECT_TRUE(party_[1].has_smp(SmpStage::succeeded));
  EXPECT_EQ(alice().state(kBob), State::private_verified);
  EXPECT_EQ(bob().state(kAlice), State::private_verified);
}

TEST_F(OtrTest, SmpAbortIsReportedToBothSides) {
  go_private();
  ASSERT_TRUE(alice().smp_ask(kBob, "Pet's name?", "Rex"));
  pump();
  ASSERT_TRUE(bob().smp_abort(kAlice));
  pump();
  EXPECT_TRUE(party_[0].has_smp(SmpStage::aborted));
  EXPECT_TRUE(party_[1].has_smp(SmpStage::aborted));
  EXPECT_EQ(alice().state(kBob), State::private_unverified);
}

TEST_F(OtrTest, SmpInterruptedMidwayRecovers) {
  go_private();
  ASSERT_TRUE(alice().smp_secret(kBob, "s3cret"));
  pump();
  ASSERT_TRUE(bob().smp_respond(kAlice, "s3cret"));
  wire_.clear();                                    // bob's SMP2 is lost
  ASSERT_TRUE(alice().smp_secret(kBob, "s3cret"));  // alice starts over
  pump();
  // Whatever libotr decides about the restart, nothing crashes and both sides
  // can still talk privately.
  say(0, "still here");
  pump();
  EXPECT_EQ(party_[1].texts().back(), "still here");
  EXPECT_NE(alice().state(kBob), State::not_private);
}

TEST_F(OtrTest, ContactKeyChangeIsFlaggedAndUnverifies) {
  go_private();
  auto old_fp = alice().peer_fingerprint(kBob);
  ASSERT_TRUE(old_fp);
  ASSERT_TRUE(alice().set_verified(kBob, *old_fp, true));
  EXPECT_EQ(alice().state(kBob), State::private_verified);

  // Bob reinstalls: a new key, a new instance.
  make(1, kBob, kBobFull, kAliceFull, *bob_key2_);
  ASSERT_TRUE(bob().start(kAlice));
  pump();
  auto changed = party_[0].events_of<KeyChanged>();
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].fingerprint, *bob().fingerprint());
  EXPECT_EQ(changed[0].known_fingerprints, std::vector<std::string>{*old_fp});
  EXPECT_EQ(alice().state(kBob), State::private_unverified);
  auto known = alice().known_fingerprints();
  ASSERT_EQ(known.size(), 2u);
}

TEST_F(OtrTest, RequireNeverSendsPlainTextAndSendsTheQueueOncePrivate) {
  alice().set_policy(kBob, Policy::require);
  bob().set_versions({.v2 = false, .v3 = false});  // a peer with OTR off
  EXPECT_EQ(say(0, "secret one"), Outgoing::Status::queued);
  EXPECT_EQ(say(0, "secret two"), Outgoing::Status::queued);
  EXPECT_EQ(alice().queued(kBob), 2u);
  auto queued = party_[0].events_of<MessageQueued>();
  ASSERT_EQ(queued.size(), 2u);
  EXPECT_FALSE(queued[0].reason.empty());
  pump();
  expect_all_encrypted(0);
  for (const auto& body : party_[0].sent) EXPECT_EQ(body.find("secret"), std::string::npos);
  for (const auto& text : party_[1].texts()) EXPECT_EQ(text.find("secret"), std::string::npos);

  // Bob's plain reply is shown, flagged as unencrypted.
  say(1, "what?");
  pump();
  ASSERT_FALSE(party_[0].received.empty());
  EXPECT_FALSE(party_[0].received.back().encrypted);
  EXPECT_EQ(alice().state(kBob), State::not_private);

  bob().set_versions({});
  ASSERT_TRUE(bob().start(kAlice));
  pump();
  EXPECT_EQ(alice().state(kBob), State::private_unverified);
  EXPECT_EQ(alice().queued(kBob), 0u);
  auto texts = party_[1].texts();
  ASSERT_GE(texts.size(), 2u);
  EXPECT_EQ(texts[texts.size() - 2], "secret one");
  EXPECT_EQ(texts.back(), "secret two");
  EXPECT_TRUE(party_[1].received.back().encrypted);
  expect_all_encrypted(0);
}

TEST_F(OtrTest, HeldMessagesReportWhatBecameOfThemByTag) {
  alice().set_policy(kBob, Policy::require);
  bob().set_versions({.v2 = false, .v3 = false});
  for (const char* tag : {"m1", "m2"}) {
    auto out = alice().outgoing(kBob, std::string("held ") + tag, tag);
    ASSERT_TRUE(out);
    EXPECT_EQ(out->status, Outgoing::Status::queued);
  }
  pump();
  EXPECT_TRUE(party_[0].events_of<QueuedMessageDone>().empty()) << "nothing went out yet";

  bob().set_versions({});
  ASSERT_TRUE(bob().start(kAlice));
  const std::size_t sent_before = party_[0].sent.size();
  pump();
  auto done = party_[0].events_of<QueuedMessageDone>();
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].tag, "m1");
  EXPECT_EQ(done[1].tag, "m2");
  EXPECT_TRUE(done[0].sent && done[1].sent);
  EXPECT_GT(party_[0].sent.size(), sent_before);

  // Ending the conversation drops what is still held, and says so.
  alice().end(kBob);
  pump();
  bob().set_versions({.v2 = false, .v3 = false});
  auto out = alice().outgoing(kBob, "never sent", "m3");
  ASSERT_TRUE(out);
  ASSERT_EQ(out->status, Outgoing::Status::queued);
  alice().end(kBob);
  done = party_[0].events_of<QueuedMessageDone>();
  ASSERT_EQ(done.size(), 3u);
  EXPECT_EQ(done[2].tag, "m3");
  EXPECT_FALSE(done[2].sent);
  EXPECT_EQ(alice().queued(kBob), 0u);
  pump();
  for (const auto& text : party_[1].texts()) EXPECT_EQ(text.find("never sent"), std::string::npos);
}

TEST_F(OtrTest, LongMessagesAreFragmented) {
  alice().set_max_message_size(kBob, 140);
  go_private();
  std::string text(1500, 'x');
  auto out = alice().outgoing(kBobFull, text);
  ASSERT_TRUE(out);
  ASSERT_GT(out->bodies.size(), 5u);
  for (const auto& body : out->bodies) {
    EXPECT_LE(body.size(), 140u);
    EXPECT_EQ(body.rfind("?OTR|", 0), 0u);  // v3 fragment
  }
  // In order, the fragments give back the whole message once.
  for (const auto& body : out->bodies) put(0, body);
  pump();
  EXPECT_EQ(party_[1].texts(), std::vector<std::string>{text});
}

TEST_F(OtrTest, GarbledDataGivesAnEventNotText) {
  go_private();
  say(0, "first");
  bool garbled = false;
  pump([&](Packet& p) {
    if (!garbled) p.body[p.body.size() / 2] = p.body[p.body.size() / 2] == 'A' ? 'B' : 'A';
    garbled = true;
    return true;
  });
  EXPECT_TRUE(party_[1].texts().empty());
  EXPECT_TRUE(party_[1].has_problem());
  // The conversation goes on.
  say(0, "second");
  pump();
  EXPECT_EQ(party_[1].texts(), std::vector<std::string>{"second"});
}

TEST_F(OtrTest, JunkOtrInputNeverCrashesOrShowsText) {
  go_private();
  const char* junk[] = {"?OTR:",
                        "?OTR:AAMD.",
                        "?OTR:AAMDAAAAAAAAAAAAAAAAAAAA.",
                        "?OTR|1|2|3,",
                        "?OTR|ffffffff|ffffffff,00001,00002,abc,",
                        "?OTR,1,3,?OTR:AAMD,",
                        "?OTR,2,1,xx,",
                        "?OTR,0,0,,",
                        "?OTR Error: boom",
                        "?OTRv23?",
                        "?OTR:AAIC"
                        "////////////////////.",
                        "?OTR:AAMK////////////."};
  for (const char* j : junk) {
    auto in = bob().incoming(kAliceFull, j);
    ASSERT_TRUE(in) << j;
    if (in->text) {
      EXPECT_FALSE(in->encrypted) << j;
    }
  }
  wire_.clear();
  say(0, "after junk");
  pump();
  EXPECT_EQ(party_[1].texts().back(), "after junk");
}

TEST_F(OtrTest, TruncatedFragmentStreamIsDropped) {
  alice().set_max_message_size(kBob, 140);
  go_private();
  auto out = alice().outgoing(kBobFull, std::string(800, 'y'));
  ASSERT_TRUE(out);
  ASSERT_GT(out->bodies.size(), 2u);
  for (std::size_t i = 0; i + 1 < out->bodies.size(); ++i) put(0, out->bodies[i]);  // last lost
  pump();
  EXPECT_TRUE(party_[1].texts().empty());
  say(0, "next");
  pump();
  EXPECT_EQ(party_[1].texts(), std::vector<std::string>{"next"});
}

TEST_F(OtrTest, ReplayedAndReorderedMessagesAreNotShownTwice) {
  go_private();
  auto first = alice().outgoing(kBobFull, "one");
  auto second = alice().outgoing(kBobFull, "two");
  ASSERT_TRUE(first && second);
  put(0, second->bodies[0]);
  put(0, first->bodies[0]);   // out of order
  put(0, second->bodies[0]);  // replayed
  pump();
  auto texts = party_[1].texts();
  EXPECT_EQ(std::count(texts.begin(), texts.end(), "two"), 1);
  EXPECT_LE(texts.size(), 2u);
  EXPECT_TRUE(party_[1].has_problem());
}

TEST_F(OtrTest, PeerVanishingMidAkeLeavesPlainStateAndRecovers) {
  ASSERT_TRUE(alice().start(kBob));
  int delivered = 0;
  pump([&](Packet&) { return ++delivered <= 2; });  // query and DH commit only
  EXPECT_EQ(alice().state(kBob), State::not_private);
  EXPECT_EQ(bob().state(kAlice), State::not_private);
  if (auto deadline = alice().next_deadline()) alice().poll(*deadline);
  go_private();
}

TEST_F(OtrTest, EndedByPeerIsFinishedAndRefusesToSend) {
  go_private();
  bob().end(kAlice);
  pump();
  EXPECT_EQ(alice().state(kBob), State::finished);
  EXPECT_EQ(bob().state(kAlice), State::not_private);
  auto out = alice().outgoing(kBobFull, "anyone?");
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status, Outgoing::Status::refused);
  EXPECT_TRUE(out->bodies.empty());
  EXPECT_TRUE(party_[0].has_problem());
}

TEST_F(OtrTest, KeysTrustAndInstanceTagsRoundTripThroughBlobs) {
  go_private();
  auto bob_fp = alice().peer_fingerprint(kBob);
  ASSERT_TRUE(bob_fp);
  ASSERT_TRUE(alice().set_verified(kBob, *bob_fp, true));
  EXPECT_FALSE(party_[0].trust_blob.empty());  // the callback got it
  auto keys = alice().export_keys();
  auto trust = alice().export_trust();
  auto tags = alice().export_instance_tags();
  ASSERT_TRUE(keys && trust && tags);
  EXPECT_EQ(*trust, party_[0].trust_blob);
  EXPECT_NE(trust->find("verified"), std::string::npos);
  auto alice_fp = alice().fingerprint();
  alice().end(kBob);
  wire_.clear();

  make(0, kAlice, kAliceFull, kBobFull, "");
  EXPECT_FALSE(alice().has_key());
  ASSERT_TRUE(alice().import_keys(*keys));
  ASSERT_TRUE(alice().import_trust(*trust));
  ASSERT_TRUE(alice().import_instance_tags(*tags));
  EXPECT_EQ(alice().fingerprint(), alice_fp);
  EXPECT_EQ(*alice().export_instance_tags(), *tags);
  auto known = alice().known_fingerprints();
  ASSERT_EQ(known.size(), 1u);
  EXPECT_EQ(known[0].fingerprint, *bob_fp);
  EXPECT_TRUE(known[0].verified);

  make(1, kBob, kBobFull, kAliceFull, *bob_key_);
  ASSERT_TRUE(alice().start(kBob));
  pump();
  EXPECT_EQ(alice().state(kBob), State::private_verified);
}

TEST_F(OtrTest, BadBlobsAreRefused) {
  EXPECT_FALSE(alice().import_keys("(not a key"));
  EXPECT_TRUE(alice().has_key());  // the old key survives a bad import
  EXPECT_FALSE(alice().import_keys("(privkeys (account (name x)))garbage"));
  EXPECT_TRUE(alice().import_trust("garbage\twithout\tenough fields\n"));  // lines skipped
  EXPECT_TRUE(alice().known_fingerprints().empty());
}

TEST_F(OtrTest, ForgetAndUnverifyFingerprints) {
  go_private();
  auto fp = *alice().peer_fingerprint(kBob);
  EXPECT_EQ(alice().forget(kBob, fp).error().code, Errc::not_allowed);  // in use
  ASSERT_TRUE(alice().set_verified(kBob, fp, true));
  ASSERT_TRUE(alice().set_verified(kBob, fp, false));
  EXPECT_EQ(alice().state(kBob), State::private_unverified);
  alice().end(kBob);
  wire_.clear();
  ASSERT_TRUE(alice().forget(kBob, fp));
  EXPECT_TRUE(alice().known_fingerprints().empty());
  EXPECT_FALSE(alice().forget(kBob, fp));
}

TEST_F(OtrTest, SmpNeedsAPrivateConversation) {
  EXPECT_EQ(alice().smp_ask(kBob, "q", "a").error().code, Errc::not_allowed);
  EXPECT_EQ(alice().smp_abort(kBob).error().code, Errc::not_allowed);
}

}  // namespace
}  // namespace sotto::otr
