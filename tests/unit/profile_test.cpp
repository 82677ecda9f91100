// The encrypted profile: lifecycle and master password, accounts, settings,
// chat and call history, and what deleting leaves behind.
#include <signal.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>

#include "harness/prosody.h"
#include "sotto/store/internal.h"
#include "sotto/store/profile.h"

namespace sotto::store {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class ProfileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    // Never the developer's desktop keyring (keyring_test has its own).
    ::unsetenv("DBUS_SESSION_BUS_ADDRESS");
    dir_ = root_.path() / "p";
  }

  MessageRecord message(std::string peer, std::string body, bool outgoing = false,
                        std::string id = {}) {
    MessageRecord m;
    m.account = "alice@example.org";
    m.peer = std::move(peer);
    m.body = std::move(body);
    m.outgoing = outgoing;
    m.message_id = std::move(id);
    m.time_ms = ++clock_ms_;
    m.state = outgoing ? "sent" : "";
    return m;
  }

  // The plaintext of every page of the main database file, decrypted with the
  // profile's key: what someone holding the key could recover from the file.
  std::string decrypted_main_file() {
    std::array<unsigned char, kDataKeyBytes> bytes{};
    EXPECT_TRUE(vault_read(dir_ / kVaultFile, std::nullopt, bytes));
    detail::KeyBuffer key;
    std::memcpy(key.bytes, bytes.data(), bytes.size());
    sodium_memzero(bytes.data(), bytes.size());
    std::string file = read_file(dir_ / kDatabaseFile);
    constexpr std::size_t kPage = 4096;
    EXPECT_EQ(file.size() % kPage, 0u);
    std::string plain;
    for (std::size_t offset = 0; offset + kPage <= file.size(); offset += kPage) {
      auto* page = reinterpret_cast<unsigned char*>(file.data() + offset);
      const auto pgno = static_cast<std::uint32_t>(offset / kPage + 1);
      EXPECT_TRUE(detail::decrypt_db_page(key, pgno, page, kPage)) << "page " << pgno;
      plain.append(reinterpret_cast<const char*>(page), kPage);
    }
    return plain;
  }

  test::TempDir root_{"sotto-profile"};
  fs::path dir_;
  std::int64_t clock_ms_ = 1'700'000'000'000;
};

TEST_F(ProfileTest, NewProfileWithoutMasterPassword) {
  Profile profile(dir_);
  auto before = profile.protection();
  ASSERT_TRUE(before);
  EXPECT_FALSE(*before);
  ASSERT_TRUE(profile.create(std::nullopt));
  EXPECT_TRUE(profile.is_open());
  auto after = profile.protection();
  ASSERT_TRUE(after && *after);
  EXPECT_NE(**after, KeyProtection::master_password);
  struct stat st {};
  ASSERT_EQ(::stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((dir_ / kDatabaseFile).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // A second create refuses to overwrite.
  Profile again(dir_);
  auto second = again.create(std::nullopt);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, Errc::already_exists);
  profile.lock();
  EXPECT_FALSE(profile.is_open());
  ASSERT_TRUE(profile.unlock(std::nullopt));
}

TEST_F(ProfileTest, WrongMasterPasswordChangesNothing) {
  {
    Profile profile(dir_);
    ASSERT_TRUE(profile.create(std::string("correct horse"), fastest_kdf_cost()));
    ASSERT_TRUE(profile.put_account({"alice@example.org", "xmpp", "{}", std::nullopt}));
  }
  const std::string vault = read_file(dir_ / kVaultFile);
  const std::string db = read_file(dir_ / kDatabaseFile);
  Profile profile(dir_);
  auto protection = profile.protection();
  ASSERT_TRUE(protection && *protection);
  EXPECT_EQ(**protection, KeyProtection::master_password);
  auto wrong = profile.unlock(std::string("battery staple"));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, Errc::auth);
  EXPECT_FALSE(profile.is_open());
  auto none = profile.unlock(std::nullopt);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Errc::auth);
  auto accounts = profile.accounts();
  ASSERT_FALSE(accounts);
  EXPECT_EQ(accounts.error().message, "the profile is locked");
  EXPECT_EQ(read_file(dir_ / kVaultFile), vault);
  EXPECT_EQ(read_file(dir_ / kDatabaseFile), db);

  ASSERT_TRUE(profile.unlock(std::string("correct horse")));
  accounts = profile.accounts();
  ASSERT_TRUE(accounts);
  ASSERT_EQ(accounts->size(), 1u);
  EXPECT_EQ(accounts->front().address, "alice@example.org");
}

TEST_F(ProfileTest, ChangingTheMasterPasswordRewrapsWithoutReencrypting) {
  Profile profile(dir_);
  ASSERT_TRUE(profile.create(std::nullopt));
  ASSERT_TRUE(profile.add_message(message("bob@example.org", "before the change")));
  ASSERT_TRUE(profile.database()->checkpoint());
  const std::string db = read_file(dir_ / kDatabaseFile);

  // Set one on an unprotected profile.
  ASSERT_TRUE(
      profile.change_master_password(std::nullopt, std::string("first"), fastest_kdf_cost()));
  EXPECT_EQ(**profile.protection(), KeyProtection::master_password);
  // A wrong current password: nothing changes.
  const std::string vault = read_file(dir_ / kVaultFile);
  auto wrong = profile.change_master_password(std::string("nope"), std::string("second"),
                                              fastest_kdf_cost());
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, Errc::auth);
  EXPECT_EQ(read_file(dir_ / kVaultFile), vault);
  // Change it.
  ASSERT_TRUE(profile.change_master_password(std::string("first"), std::string("second"),
                                             fastest_kdf_cost()));
  EXPECT_EQ(read_file(dir_ / kDatabaseFile), db) << "the database must not be re-encrypted";
  profile.lock();
  EXPECT_FALSE(profile.unlock(std::string("first")));
  ASSERT_TRUE(profile.unlock(std::string("second")));
  auto page = profile.conversation("alice@example.org", "bob@example.org", std::nullopt, 10);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ(page->front().body, "before the change");
  // Remove it.
  ASSERT_TRUE(profile.change_master_password(std::string("second"), std::nullopt));
  EXPECT_NE(**profile.protection(), KeyProtection::master_password);
  profile.lock();
  ASSERT_TRUE(profile.unlock(std::nullopt));
}

// Reads everything a user can reach; the first error.
Result<void> read_everything(Profile& profile) {
  if (auto accounts = profile.accounts(); !accounts) return Unexpected(accounts.error());
  auto list = profile.conversations();
  if (!list) return Unexpected(list.error());
  for (const auto& c : *list) {
    auto page = profile.conversation(c.account, c.peer, std::nullopt, 100000);
    if (!page) return Unexpected(page.error());
  }
  if (auto hits = profile.search("filler", 100000); !hits) return Unexpected(hits.error());
  if (auto calls = profile.calls(1000); !calls) return Unexpected(calls.error());
  return profile.check();
}

TEST_F(ProfileTest, AFlippedByteAnywhereIsTheDamagedProfileError) {
  {
    Profile profile(dir_);
    ASSERT_TRUE(profile.create(std::nullopt));
    ASSERT_TRUE(profile.put_account({"alice@example.org", "xmpp", "{}", std::nullopt}));
    for (int i = 0; i < 200; ++i) {
      ASSERT_TRUE(profile.add_message(message("bob@example.org", "filler " + std::to_string(i))));
    }
    // No free pages: every page left holds something the profile reads.
    ASSERT_TRUE(profile.database()->exec("VACUUM"));
    ASSERT_TRUE(profile.database()->checkpoint());
  }
  const std::string db = read_file(dir_ / kDatabaseFile);
  ASSERT_GT(db.size(), 3 * 4096u);
  std::mt19937 rng(7);
  for (std::size_t page = 0; page < db.size() / 4096; ++page) {
    std::string damaged = db;
    const std::size_t offset = page * 4096 + rng() % 4096;
    damaged[offset] = static_cast<char>(damaged[offset] ^ (1 << (rng() % 8)));
    std::ofstream(dir_ / kDatabaseFile, std::ios::binary | std::ios::trunc) << damaged;
    Profile profile(dir_);
    auto opened = profile.unlock(std::nullopt);
    if (page == 0) {
      ASSERT_FALSE(opened) << "page 1 is read when the profile opens";
    }
    const Result<void> read = opened ? read_everything(profile) : opened;
    ASSERT_FALSE(read) << "byte " << offset << " (page " << page + 1 << ") went unnoticed";
    EXPECT_EQ(read.error().message, kDamagedMessage) << "page " << page + 1;
  }
  std::ofstream(dir_ / kDatabaseFile, std::ios::binary | std::ios::trunc) << db;
  Profile profile(dir_);
  ASSERT_TRUE(profile.unlock(std::nullopt));
  ASSERT_TRUE(read_everything(profile));
}

TEST_F(ProfileTest, AccountsKeepOrderAndRememberOnlyWhatTheyShould) {
  Profile profile(dir_);
  ASSERT_TRUE(profile.create(std::nullopt));
  ASSERT_TRUE(profile.put_account({"b@x.org", "xmpp", R"({"port":5222})", std::nullopt}));
  ASSERT_TRUE(profile.put_account({"a@x.org", "xmpp", "{}", std::string("s3cret")}));
  ASSERT_TRUE(profile.put_account({"b@x.org", "xmpp", R"({"port":5223})", std::string("pw")}));
  auto accounts = profile.accounts();
  ASSERT_TRUE(accounts);
  ASSERT_EQ(accounts->size(), 2u);
  EXPECT_EQ((*accounts)[0].address, "b@x.org");  // updating keeps the position
  EXPECT_EQ((*accounts)[0].settings, R"({"port":5223})");
  EXPECT_EQ((*accounts)[0].password, std::optional<std::string>("pw"));
  EXPECT_EQ((*accounts)[1].password, std::optional<std::string>("s3cret"));
  ASSERT_TRUE(profile.put_account({"a@x.org", "xmpp", "{}", std::nullopt}));
  ASSERT_TRUE(profile.remove_account("b@x.org"));
  accounts = profile.accounts();
  ASSERT_EQ(accounts->size(), 1u);
  EXPECT_FALSE(accounts->front().password);

  ASSERT_TRUE(profile.set_setting("log_history", "0"));
  EXPECT_EQ(*profile.setting("log_history"), std::optional<std::string>("0"));
  EXPECT_EQ(*profile.setting("missing"), std::nullopt);
  ASSERT_TRUE(profile.set_contact_setting("a@x.org", "c@y.org", "log_history", "0"));
  EXPECT_EQ(*profile.contact_setting("a@x.org", "c@y.org", "log_history"),
            std::optional<std::string>("0"));
  ASSERT_TRUE(profile.set_contact_setting("a@x.org", "c@y.org", "log_history", std::nullopt));
  EXPECT_EQ(*profile.contact_setting("a@x.org", "c@y.org", "log_history"), std::nullopt);
}

TEST_F(ProfileTest, ConversationPagesAndStates) {
  Profile profile(dir_);
  ASSERT_TRUE(profile.create(std::nullopt));
  for (int i = 0; i < 25; ++i) {
    ASSERT_TRUE(profile.add_message(message("bob@example.org", "line " + std::to_string(i),
                                            i % 2 == 0, "id" + std::to_string(i))));
  }
  ASSERT_TRUE(profile.add_message(message("carol@example.org", "elsewhere")));
  // The same message again (a resend, an archive copy): stored once.
  auto first = profile.add_message(message("bob@example.org", "line 0", true, "id0"));
  ASSERT_TRUE(first);
  auto page = profile.conversation("alice@example.org", "bob@example.org", std::nullopt, 10);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->size(), 10u);
  EXPECT_EQ(page->front().body, "line 15");
  EXPECT_EQ(page->back().body, "line 24");
  auto older = profile.conversation("alice@example.org", "bob@example.org", page->front().row, 10);
  ASSERT_EQ(older->size(), 10u);
  EXPECT_EQ(older->back().body, "line 14");
  auto oldest =
      profile.conversation("alice@example.org", "bob@example.org", older->front().row, 10);
  ASSERT_EQ(oldest->size(), 5u);
  EXPECT_EQ(oldest->front().body, "line 0");
  EXPECT_EQ(oldest->front().row, *first);
  EXPECT_TRUE(oldest->front().outgoing);

  auto updated =
      profile.set_message_state("alice@example.org", "bob@example.org", "id24", "delivered");
  ASSERT_TRUE(updated);
  EXPECT_TRUE(*updated);
  EXPECT_FALSE(*profile.set_message_state("alice@example.org", "bob@example.org", "nope", "x"));
  // The receipt can overtake the server's acknowledgement: no going back.
  EXPECT_TRUE(*profile.set_message_state("alice@example.org", "bob@example.org", "id24", "sent"));
  page = profile.conversation("alice@example.org", "bob@example.org", std::nullopt, 1);
  EXPECT_EQ(page->front().state, "delivered");

  auto list = profile.conversations();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ(list->front().peer, "carol@example.org");  // the most recent first
  EXPECT_EQ(list->back().messages, 25);
}

TEST_F(ProfileTest, SearchMatchesWordsAndPrefixesWhateverTheUserTypes) {
  Profile profile(dir_);
  ASSERT_TRUE(profile.create(std::nullopt));
  ASSERT_TRUE(profile.add_message(message("bob@example.org", "Meet me at the café tomorrow")));
  ASSERT_TRUE(profile.add_message(message("bob@example.org", "tomorrow is fine")));
  ASSERT_TRUE(profile.add_message(message("carol@example.org", "the documents are ready")));
  auto hits = profile.search("tomorrow", 10);
  ASSERT_TRUE(hits);
  ASSERT_EQ(hits->size(), 2u);
  EXPECT_EQ(hits->front().body, "tomorrow is fine");  // newest first
  hits = profile.search("cafe meet", 10);             // diacritics folded, all words, any order
  ASSERT_TRUE(hits);
  ASSERT_EQ(hits->size(), 1u);
  hits = profile.search("docu", 10);  // a prefix
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ(hits->front().peer, "carol@example.org");
  for (const char* odd : {"\"", "AND", "NEAR(", "a*b", "-x", "col:umn", "(("}) {
    auto result = profile.search(odd, 10);
    EXPECT_TRUE(result) << odd << ": " << result.error().message;
  }
  auto empty = profile.search("   ", 10);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, Errc::invalid_argument);
}

TEST_F(ProfileTest, DeletedTextDoesNotSurviveInFreePagesOrTheWal) {
  Profile profile(dir_);
  ASSERT_TRUE(profile.create(std::nullopt));
  const std::string secret = "zebracorn";
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(profile.add_message(
        message("bob@example.org", secret + " meeting point number " + std::to_string(i))));
    ASSERT_TRUE(
        profile.add_message(message("carol@example.org", "unrelated " + std::to_string(i))));
  }
  ASSERT_TRUE(profile.database()->checkpoint());
  ASSERT_NE(decrypted_main_file().find(secret), std::string::npos)
      << "the check below would prove nothing";

  auto deleted = profile.delete_conversation("alice@example.org", "bob@example.org");
  ASSERT_TRUE(deleted);
  EXPECT_EQ(*deleted, 300);
  EXPECT_EQ(profile.search(secret, 10)->size(), 0u);
  EXPECT_EQ(profile.search("unrelated", 1000)->size(), 300u);
  EXPECT_EQ(fs::file_size(dir_.string() + "/" + kDatabaseFile + "-wal"), 0u);
  EXPECT_EQ(decrypted_main_file().find(secret), std::string::npos);
  EXPECT_EQ(decrypted_main_file().find("meeting point"), std::string::npos);

  auto all = profile.delete_all_messages();
  ASSERT_TRUE(all) << all.error().message << ": " << all.error().detail;
  EXPECT_EQ(*all, 300);
  EXPECT_EQ(profile.conversations()->size(), 0u);
  EXPECT_EQ(decrypted_main_file().find("unrelated"), std::string::npos);
  // The index still works after being emptied.
  ASSERT_TRUE(profile.add_message(message("dave@example.org", "fresh start")));
  EXPECT_EQ(profile.search("fresh", 10)->size(), 1u);
}

TEST_F(ProfileTest, OtrDataIsKeptPerAccountAndKind) {
  Profile profile(dir_);
  ASSERT_TRUE(profile.create(std::nullopt));
  EXPECT_EQ(*profile.otr_data("a@x.org", "keys"), std::nullopt);
  ASSERT_TRUE(profile.set_otr_data("a@x.org", "keys", "(privkeys (account a))"));
  ASSERT_TRUE(profile.set_otr_data("a@x.org", "trust", "b@x.org\ta@x.org\txmpp\tabcd\tsmp\n"));
  ASSERT_TRUE(profile.set_otr_data("a@x.org", "keys", "(privkeys (account a2))"));
  profile.lock();
  ASSERT_TRUE(profile.unlock(std::nullopt));
  EXPECT_EQ(*profile.otr_data("a@x.org", "keys"),
            std::optional<std::string>("(privkeys (account a2))"));
  EXPECT_EQ(*profile.otr_data("a@x.org", "trust"),
            std::optional<std::string>("b@x.org\ta@x.org\txmpp\tabcd\tsmp\n"));
  EXPECT_EQ(*profile.otr_data("b@x.org", "keys"), std::nullopt);
}

// A profile written before the OTR tables existed opens, keeps its data and
// gains them; one written by a newer Sotto is refused, untouched.
TEST_F(ProfileTest, OlderSchemasAreMigratedAndNewerOnesRefused) {
  {
    Profile profile(dir_);
    ASSERT_TRUE(profile.create(std::nullopt));
    ASSERT_TRUE(profile.add_message(message("bob@example.org", "from version one")));
    ASSERT_TRUE(profile.database()->exec("DROP TABLE otr; PRAGMA user_version=1;"));
  }
  {
    Profile profile(dir_);
    ASSERT_TRUE(profile.unlock(std::nullopt));
    EXPECT_EQ(profile.search("version", 10)->size(), 1u);
    ASSERT_TRUE(profile.set_otr_data("alice@example.org", "keys", "k"));
    ASSERT_TRUE(profile.database()->exec("PRAGMA user_version=99;"));
  }
  Profile profile(dir_);
  auto refused = profile.unlock(std::nullopt);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::not_supported);
  EXPECT_FALSE(profile.is_open());
}

TEST_F(ProfileTest, CallHistory) {
  Profile profile(dir_);
  ASSERT_TRUE(profile.create(std::nullopt));
  CallRecord call;
  call.account = "alice@sip.example.org";
  call.peer = "bob@sip.example.org";
  call.outgoing = true;
  call.start_ms = 1000;
  auto row = profile.add_call(call);
  ASSERT_TRUE(row);
  ASSERT_TRUE(profile.finish_call(*row, 61000, "hung up", true));
  call.outgoing = false;
  call.start_ms = 2000;
  call.end_ms = 2000;
  call.reason = "missed";
  ASSERT_TRUE(profile.add_call(call));
  EXPECT_EQ(profile.finish_call(9999, 1, "x", false).error().code, Errc::not_found);
  auto calls = profile.calls(10);
  ASSERT_TRUE(calls);
  ASSERT_EQ(calls->size(), 2u);
  EXPECT_EQ(calls->front().reason, "missed");
  EXPECT_EQ(calls->back().end_ms, 61000);
  EXPECT_TRUE(calls->back().secured);
  EXPECT_EQ(*profile.delete_calls(), 2);
  EXPECT_EQ(profile.calls(10)->size(), 0u);
}

// A child adds messages one transaction at a time and reports each commit
// through a pipe; the parent kills it at a random moment, then checks that the
// profile opens and holds every reported message. 10000 messages in all.
[[noreturn]] void writer_child(const fs::path& dir, int first, int last, int report) {
  Profile profile(dir);
  if (!profile.unlock(std::nullopt)) ::_exit(3);
  for (int i = first; i <= last; ++i) {
    MessageRecord m;
    m.account = "alice@example.org";
    m.peer = "bob@example.org";
    m.message_id = "m" + std::to_string(i);
    m.time_ms = i;
    m.body = "crash test message " + std::to_string(i);
    if (!profile.add_message(m)) ::_exit(4);
    const std::int32_t done = i;
    if (::write(report, &done, sizeof done) != sizeof done) ::_exit(5);
  }
  ::_exit(0);
}

TEST_F(ProfileTest, SigkillDuringWritesLosesNoCommittedMessage) {
  constexpr int kTotal = 10000;
  {
    Profile profile(dir_);
    ASSERT_TRUE(profile.create(std::nullopt));
  }
  std::mt19937 rng(std::random_device{}());
  int committed = 0;
  int kills = 0;
  while (committed < kTotal) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      writer_child(dir_, committed + 1, kTotal, fds[1]);
    }
    ::close(fds[1]);
    // Kill at a random moment while it writes (or let the last round finish).
    std::this_thread::sleep_for(std::chrono::milliseconds(5 + rng() % 120));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (WIFSIGNALED(status))
      ++kills;
    else
      ASSERT_EQ(WEXITSTATUS(status), 0);
    std::int32_t value = 0;
    int reported = committed;
    while (::read(fds[0], &value, sizeof value) == sizeof value) reported = value;
    ::close(fds[0]);

    Profile profile(dir_);
    auto opened = profile.unlock(std::nullopt);
    ASSERT_TRUE(opened) << opened.error().message << ": " << opened.error().detail;
    auto counts = profile.counts();
    ASSERT_TRUE(counts) << counts.error().message;
    // Every reported commit is there, at most one more that was not reported.
    ASSERT_GE(counts->messages, reported);
    ASSERT_LE(counts->messages, reported + 1);
    auto newest = profile.conversation("alice@example.org", "bob@example.org", std::nullopt, 1);
    ASSERT_TRUE(newest);
    if (counts->messages > 0) {
      EXPECT_EQ(newest->front().body, "crash test message " + std::to_string(counts->messages));
    }
    committed = static_cast<int>(counts->messages);
  }
  auto profile = std::make_unique<Profile>(dir_);
  ASSERT_TRUE(profile->unlock(std::nullopt));
  EXPECT_EQ(profile->search("crash", kTotal + 1)->size(), static_cast<std::size_t>(kTotal));
  EXPECT_GT(kills, 3) << "the writer was hardly ever interrupted";
}

}  // namespace
}  // namespace sotto::store
