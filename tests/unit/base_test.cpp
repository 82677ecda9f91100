#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "harness/prosody.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "sotto/base/base.h"

namespace sotto {
namespace {

namespace fs = std::filesystem;

// Sets an environment variable for one test and restores it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

using test::TempDir;

unsigned mode_of(const fs::path& path) {
  struct stat info {};
  EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
  return info.st_mode & 07777;
}

TEST(Errc, HasAName) {
  EXPECT_EQ(to_string(Errc::invalid_argument), "invalid_argument");
  EXPECT_EQ(to_string(Errc::certificate), "certificate");
  EXPECT_EQ(to_string(Errc::not_connected), "not_connected");
}

TEST(Fail, CarriesCodeMessageAndDetail) {
  Result<int> result = fail(Errc::certificate, "not trusted", "ab:cd");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, Errc::certificate);
  EXPECT_EQ(result.error().message, "not trusted");
  EXPECT_EQ(result.error().detail, "ab:cd");
}

TEST(Hex, LowercasesEveryByte) {
  EXPECT_EQ(to_hex(""), "");
  EXPECT_EQ(to_hex(std::string_view("\x00\x01\xab\xff", 4)), "0001abff");
}

TEST(Fingerprint, AcceptsCommonSpellings) {
  const std::string sha256 = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
  EXPECT_EQ(normalize_fingerprint(sha256), sha256);
  EXPECT_EQ(normalize_fingerprint(format_fingerprint(sha256)), sha256);
  EXPECT_EQ(normalize_fingerprint("A1B2C3D4 E5F60718 293A4B5C 6D7E8F90 A1B2C3D4 E5F60718 293A4B5C "
                                  "6D7E8F90"),
            sha256);
  const std::string sha1 = "0123456789abcdef0123456789abcdef01234567";
  EXPECT_EQ(normalize_fingerprint(sha1), sha1);
  EXPECT_TRUE(normalize_fingerprint(std::string(128, 'f')));
}

TEST(Fingerprint, RejectsWhatIsNotAFingerprint) {
  EXPECT_FALSE(normalize_fingerprint(""));
  EXPECT_FALSE(normalize_fingerprint("abcd"));                 // too short
  EXPECT_FALSE(normalize_fingerprint(std::string(130, 'a')));  // too long
  EXPECT_FALSE(normalize_fingerprint(std::string(41, 'a')));   // odd
  EXPECT_FALSE(normalize_fingerprint(std::string(63, 'a') + "g"));
  EXPECT_FALSE(normalize_fingerprint(std::string(62, 'a') + "-a"));
}

TEST(Fingerprint, FormatsForDisplay) {
  EXPECT_EQ(format_fingerprint("a1b2c3"), "A1:B2:C3");
  EXPECT_EQ(format_fingerprint(""), "");
}

TEST(RandomId, UsesTheUrlSafeAlphabetAndTheGivenLength) {
  EXPECT_EQ(random_id().size(), 16u);
  EXPECT_EQ(random_id(0), "");
  const std::string id = random_id(1000);
  ASSERT_EQ(id.size(), 1000u);
  for (char c : id) {
    EXPECT_TRUE((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) << c;
  }
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.insert(random_id(16));
  EXPECT_EQ(ids.size(), 1000u);
}

TEST(SecureWipe, ClearsTheString) {
  std::string secret = "hunter2";
  secure_wipe(secret);
  EXPECT_TRUE(secret.empty());
}

TEST(Log, LevelFiltersMessages) {
  const log::Level saved = log::level();
  log::set_level(log::Level::info);
  EXPECT_TRUE(log::enabled(log::Level::error));
  EXPECT_TRUE(log::enabled(log::Level::info));
  EXPECT_FALSE(log::enabled(log::Level::debug));
  EXPECT_FALSE(log::enabled(log::Level::off));

  testing::internal::CaptureStderr();
  log::info("test", "shown");
  log::debug("test", "hidden");
  const std::string out = testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find("sotto[info] test: shown\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("hidden"), std::string::npos) << out;

  log::set_level(log::Level::off);
  EXPECT_FALSE(log::enabled(log::Level::error));
  log::set_level(saved);
}

TEST(Log, StartsWithATimestamp) {
  const log::Level saved = log::level();
  log::set_level(log::Level::debug);
  testing::internal::CaptureStderr();
  log::warn("xmpp", "hello");
  const std::string out = testing::internal::GetCapturedStderr();
  log::set_level(saved);
  // "HH:MM:SS.mmm sotto[warn] xmpp: hello"
  ASSERT_GE(out.size(), 13u);
  EXPECT_EQ(out[2], ':');
  EXPECT_EQ(out[5], ':');
  EXPECT_EQ(out[8], '.');
  EXPECT_EQ(out.substr(12), " sotto[warn] xmpp: hello\n");
}

TEST(Log, TextCannotForgeLines) {
  const log::Level saved = log::level();
  log::set_level(log::Level::debug);
  testing::internal::CaptureStderr();
  log::error("xmpp", "a\nsotto[error] fake: b\x01");
  const std::string out = testing::internal::GetCapturedStderr();
  log::set_level(saved);
  EXPECT_NE(out.find("a\\nsotto[error] fake: b\\x01\n"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1);
}

TEST(Log, WholeLinesFromManyThreads) {
  const log::Level saved = log::level();
  log::set_level(log::Level::debug);
  testing::internal::CaptureStderr();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([] {
      for (int i = 0; i < 100; ++i) log::info("thread", std::string(100, 'x'));
    });
  }
  for (auto& thread : threads) thread.join();
  const std::string out = testing::internal::GetCapturedStderr();
  log::set_level(saved);
  std::size_t lines = 0;
  for (std::size_t start = 0; start < out.size();) {
    const std::size_t end = out.find('\n', start);
    ASSERT_NE(end, std::string::npos);
    EXPECT_EQ(out.substr(start + 12, end - start - 12),
              " sotto[info] thread: " + std::string(100, 'x'));
    ++lines;
    start = end + 1;
  }
  EXPECT_EQ(lines, 400u);
}

TEST(Log, RedactHidesSecrets) {
  EXPECT_EQ(log::redact("hunter2"), "[redacted]");
  EXPECT_EQ(log::redact(""), "[empty]");
}

TEST(Paths, DataHomeFollowsXdg) {
  {
    ScopedEnv xdg("XDG_DATA_HOME", "/tmp/xdg-data");
    EXPECT_EQ(paths::data_home(), fs::path("/tmp/xdg-data/sotto"));
  }
  {
    ScopedEnv xdg("XDG_DATA_HOME", "relative/dir");  // ignored: not absolute
    ScopedEnv home("HOME", "/home/someone");
    EXPECT_EQ(paths::data_home(), fs::path("/home/someone/.local/share/sotto"));
  }
  {
    ScopedEnv xdg("XDG_DATA_HOME", nullptr);
    ScopedEnv home("HOME", "/home/someone");
    EXPECT_EQ(paths::data_home(), fs::path("/home/someone/.local/share/sotto"));
  }
}

TEST(Paths, ProfileDirIsCreatedPrivate) {
  TempDir temp;
  ScopedEnv xdg("XDG_DATA_HOME", (temp.path() / "data").c_str());
  const mode_t old_umask = ::umask(0022);

  auto dir = paths::profile_dir("work", false);
  ASSERT_TRUE(dir) << dir.error().message;
  EXPECT_EQ(*dir, temp.path() / "data" / "sotto" / "work");
  EXPECT_FALSE(fs::exists(*dir));

  dir = paths::profile_dir("work", true);
  ASSERT_TRUE(dir) << dir.error().message;
  EXPECT_TRUE(fs::is_directory(*dir));
  EXPECT_EQ(mode_of(*dir), 0700u);
  EXPECT_EQ(mode_of(temp.path() / "data" / "sotto"), 0700u);
  EXPECT_EQ(mode_of(temp.path() / "data"), 0700u);

  ::chmod(dir->c_str(), 0755);  // an existing, too open folder is made private again
  dir = paths::profile_dir("work", true);
  ASSERT_TRUE(dir) << dir.error().message;
  EXPECT_EQ(mode_of(*dir), 0700u);
  ::umask(old_umask);
}

TEST(Paths, ProfileDirFailsOnAFile) {
  TempDir temp;
  ScopedEnv xdg("XDG_DATA_HOME", temp.path().c_str());
  fs::create_directories(temp.path() / "sotto");
  { std::ofstream(temp.path() / "sotto" / "file") << "x"; }
  auto dir = paths::profile_dir("file", true);
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().code, Errc::io);
}

TEST(Paths, RejectsBadProfileNames) {
  for (std::string_view bad : {"", ".", "..", "a/b", "../x", "with space", "ü", "a\nb"}) {
    auto dir = paths::profile_dir(bad, false);
    ASSERT_FALSE(dir) << bad;
    EXPECT_EQ(dir.error().code, Errc::invalid_argument);
  }
  EXPECT_FALSE(paths::profile_dir(std::string(65, 'a'), false));
  EXPECT_TRUE(paths::profile_dir(std::string(64, 'a'), false));
  EXPECT_TRUE(paths::profile_dir("Work-2.old_x", false));
}

}  // namespace
}  // namespace sotto
