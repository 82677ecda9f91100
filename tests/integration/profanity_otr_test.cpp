// OTR between Sotto and a real third-party client, profanity 0.13.1 (libotr,
// OTR v2 only: it sends ?OTR?v2?), on the same private Prosody: the AKE
// started by either side, messages both ways, SMP both ways. profanity is
// driven through tmux (tests/harness/profanity.h); its OTR state and SMP
// progress are read from its chat window, its messages from its plugin.
#include <gtest/gtest.h>

#include <iostream>

#include "harness/profanity.h"
#include "sotto_on_prosody.h"

namespace sotto::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class ProfanityOtr : public SottoOnProsody {
 protected:
  using User = SottoUser;

  void SetUp() override { log_offset_ = server_log_size(); }

  static User otr_user(std::string_view name) {
    User user = registered_online(name);
    otr_key(user);
    return user;
  }

  // A new account logged in with profanity, with its OTR key generated.
  static std::unique_ptr<Profanity> profanity_user(std::string_view name) {
    return profanity_for_new_account(*server_, unique(name));
  }

  // Words and spaces only: shown as is on profanity's screen and in the
  // server's log, if it ever leaks there.
  static std::string private_text(std::string_view what) {
    return std::string(what) + " " + unique("t");
  }

  // Sotto starts OTR; both sides show a private, unverified conversation.
  static json sotto_starts_otr(User& alice, Profanity& pat) {
    auto started = std::chrono::steady_clock::now();
    alice.rpc->call("otr.start", {{"account", alice.address}, {"peer", pat.jid()}});
    json e = wait_privacy(alice, pat.jid(), "unverified");
    std::cout << "[ otr ] AKE Sotto -> profanity: "
              << std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - started)
                     .count()
              << " ms\n";
    pat.wait_otr_state(alice.address, "untrusted");
    return e;
  }

  // Every message body profanity received from `from` was OTR data.
  static void expect_profanity_got_only_otr(Profanity& pat, const std::string& from,
                                            std::size_t at_least) {
    std::size_t bodies = 0;
    for (const json& e : pat.events_seen()) {
      if (e.value("event", "") != "stanza.received" || e.value("kind", "") != "message") continue;
      if (!e.contains("body") || bare_address(e.value("from", "")) != from) continue;
      ++bodies;
      EXPECT_TRUE(e.value("body", "").starts_with("?OTR"))
          << "profanity received a body that is not OTR: " << e.value("body", "").substr(0, 200);
    }
    EXPECT_GE(bodies, at_least);
  }

  std::uintmax_t log_offset_ = 0;
};

TEST_F(ProfanityOtr, SottoStartsOtrAndMessagesGoBothWays) {
  User alice = otr_user("alice");
  auto pat = profanity_user("pat");
  const std::string pat_fp = pat->otr_fingerprint();  // generates profanity's key

  json privacy = sotto_starts_otr(alice, *pat);
  EXPECT_EQ(privacy.value("version", 0), 2) << "profanity speaks OTR v2 only: " << privacy.dump();
  EXPECT_EQ(privacy.value("instance", 1u), 0u) << "no instance tags in v2: " << privacy.dump();
  pat->wait_screen(std::regex(R"(OTR session started \(untrusted\)\.)"));

  const std::string to_pat = private_text("Sotto to profanity privately");
  json sent = send_message(alice, pat->jid(), to_pat);
  EXPECT_TRUE(sent.value("encrypted", false)) << sent.dump();
  pat->wait_message(alice.address, to_pat);
  // profanity marks a message that came through OTR with its OTR character.
  pat->wait_screen(std::regex("~ " + regex_escape(alice.address) + "/[^ ]+: " + to_pat));

  const std::string to_alice = private_text("profanity to Sotto privately");
  pat->command(to_alice);  // typed into the focused chat window with Alice
  json got = wait_message(alice, to_alice);
  EXPECT_EQ(got["peer"], pat->jid());
  EXPECT_TRUE(got.value("encrypted", false)) << got.dump();
  pat->wait_screen(std::regex("~ me: " + to_alice));

  // Both sides see the same keys.
  json status = otr_status(alice, pat->jid());
  EXPECT_EQ(status["fingerprint"], pat_fp);
  EXPECT_EQ(status["version"], 2);
  EXPECT_EQ(pat->otr_their_fingerprint(alice.address), otr_key(alice));

  expect_profanity_got_only_otr(*pat, alice.address, 2);
  expect_only_otr_on_the_wire(log_offset_, alice.address, pat->jid(), {to_pat, to_alice}, 2);
  expect_only_otr_on_the_wire(log_offset_, pat->jid(), alice.address, {to_pat, to_alice}, 2);
  for (const json& e : events_of(alice, "message.received")) {
    EXPECT_FALSE(e.value("body", "").starts_with("?OTR")) << e.dump().substr(0, 300);
  }
}

TEST_F(ProfanityOtr, ProfanityStartsOtrAndSottoAnswers) {
  User alice = otr_user("alice");
  auto pat = profanity_user("pat");
  const std::string pat_fp = pat->otr_fingerprint();

  pat->otr_start(alice.address);  // sends ?OTR?v2?
  json privacy = wait_privacy(alice, pat->jid(), "unverified");
  EXPECT_EQ(privacy.value("version", 0), 2) << privacy.dump();
  pat->wait_otr_state(alice.address, "untrusted");
  EXPECT_EQ(otr_status(alice, pat->jid())["fingerprint"], pat_fp);

  const std::string to_alice = private_text("profanity asked for this");
  pat->command(to_alice);
  EXPECT_TRUE(wait_message(alice, to_alice).value("encrypted", false));
  const std::string to_pat = private_text("and Sotto answers it");
  EXPECT_TRUE(send_message(alice, pat->jid(), to_pat).value("encrypted", false));
  pat->wait_message(alice.address, to_pat);

  expect_profanity_got_only_otr(*pat, alice.address, 2);
  expect_only_otr_on_the_wire(log_offset_, alice.address, pat->jid(), {to_pat, to_alice}, 2);
  expect_only_otr_on_the_wire(log_offset_, pat->jid(), alice.address, {to_pat, to_alice}, 2);
}

// profanity asks a question (`/otr question`), Sotto answers: profanity
// trusts Sotto's key; Sotto, who only answered, stays unverified.
TEST_F(ProfanityOtr, ProfanityAsksAQuestionAndSottoAnswers) {
  User alice = otr_user("alice");
  auto pat = profanity_user("pat");
  pat->otr_fingerprint();
  sotto_starts_otr(alice, *pat);

  const std::string question = "Where did we first meet?";
  pat->otr_question(alice.address, question, "Lisbon");
  json asked = wait_smp(alice, pat->jid(), "asked_question");
  EXPECT_EQ(asked.value("question", ""), question);
  alice.rpc->call("otr.smpAnswer",
                  {{"account", alice.address}, {"peer", pat->jid()}, {"answer", "Lisbon"}});
  wait_smp(alice, pat->jid(), "succeeded");
  pat->wait_screen(std::regex(R"(Authentication successful\.)"));
  pat->wait_otr_state(alice.address, "trusted");
  EXPECT_EQ(otr_status(alice, pat->jid())["privacy"], "unverified");
}

// Sotto asks for a shared secret; profanity types it (`/otr secret`). A wrong
// one fails on both sides, the right one verifies both.
TEST_F(ProfanityOtr, SottoAsksForASharedSecretAndProfanityAnswers) {
  User alice = otr_user("alice");
  auto pat = profanity_user("pat");
  const std::string pat_fp = pat->otr_fingerprint();
  sotto_starts_otr(alice, *pat);
  const std::regex asked(regex_escape(alice.address) +
                         R"( wants to authenticate your identity, use '/otr secret <secret>'\.)");

  alice.rpc->call("otr.smpAsk",
                  {{"account", alice.address}, {"peer", pat->jid()}, {"secret", "tangerine"}});
  pat->wait_screen(asked);
  pat->otr_secret(alice.address, "clementine");
  wait_smp(alice, pat->jid(), "failed");
  pat->wait_screen(std::regex("Authentication failed, the secret you entered does not match"));
  EXPECT_EQ(otr_status(alice, pat->jid())["privacy"], "unverified");

  pat->command("/clear");
  alice.rpc->call("otr.smpAsk",
                  {{"account", alice.address}, {"peer", pat->jid()}, {"secret", "tangerine"}});
  pat->wait_screen(asked);
  pat->otr_secret(alice.address, "tangerine");
  wait_smp(alice, pat->jid(), "succeeded");
  wait_privacy(alice, pat->jid(), "verified");
  pat->wait_screen(std::regex(R"(Authentication successful\.)"));
  pat->wait_otr_state(alice.address, "trusted");
  json known = alice.rpc->call("otr.trust", {{"account", alice.address}});
  bool verified = false;
  for (const json& entry : known) {
    verified =
        verified || (entry.value("peer", "") == pat->jid() &&
                     entry.value("fingerprint", "") == pat_fp && entry.value("verified", false));
  }
  EXPECT_TRUE(verified) << known.dump();
}

// Sotto asks a question; profanity shows it and answers (`/otr answer`).
TEST_F(ProfanityOtr, SottoAsksAQuestionAndProfanityAnswers) {
  User alice = otr_user("alice");
  auto pat = profanity_user("pat");
  pat->otr_fingerprint();
  sotto_starts_otr(alice, *pat);

  alice.rpc->call("otr.smpAsk", {{"account", alice.address},
                                 {"peer", pat->jid()},
                                 {"question", "The name of my rabbit?"},
                                 {"secret", "fiffi"}});
  pat->wait_screen(std::regex(regex_escape(alice.address) +
                              " wants to authenticate your identity with the following question:"));
  pat->wait_screen(std::regex(R"(!   The name of my rabbit\?)"));
  pat->otr_answer(alice.address, "fiffi");
  wait_smp(alice, pat->jid(), "succeeded");
  wait_privacy(alice, pat->jid(), "verified");
  pat->wait_screen(
      std::regex(regex_escape(alice.address) + R"( successfully authenticated you\.)"));
  EXPECT_EQ(pat->otr_state(alice.address), "untrusted") << "profanity only answered";
}

// profanity ends the conversation (`/otr end`): Sotto's padlock says
// "finished" and Sotto sends nothing, not even in plain, until Alice decides.
TEST_F(ProfanityOtr, ProfanityEndsTheConversation) {
  User alice = otr_user("alice");
  auto pat = profanity_user("pat");
  pat->otr_fingerprint();
  sotto_starts_otr(alice, *pat);

  pat->otr_end(alice.address);
  wait_privacy(alice, pat->jid(), "finished");
  pat->wait_otr_state(alice.address, "unencrypted");
  const std::string refused_text = private_text("must not leave");
  json refused = alice.rpc->call_raw(
      "message.send", {{"account", alice.address}, {"to", pat->jid()}, {"body", refused_text}});
  ASSERT_TRUE(refused.contains("error")) << refused.dump();
  EXPECT_EQ(refused["error"]["data"]["errc"], "not_allowed");

  // Refreshing goes private again.
  sotto_starts_otr(alice, *pat);
  const std::string to_pat = private_text("private again");
  EXPECT_TRUE(send_message(alice, pat->jid(), to_pat).value("encrypted", false));
  pat->wait_message(alice.address, to_pat);
  EXPECT_EQ(server_log_since(log_offset_).find(refused_text), std::string::npos);
  for (const json& e : pat->events_seen()) {
    EXPECT_NE(e.value("body", ""), refused_text) << e.dump();
  }
}

}  // namespace
}  // namespace sotto::test
