// The vault's desktop keyring form against a real Secret Service. Each test
// starts its own session bus (a config without service directories, so
// nothing is ever activated) and gnome-keyring-daemon, which creates and
// unlocks a throwaway login keyring under a temporary HOME; the user's own
// bus and keyring are never touched. Both are stopped with their process
// groups afterwards.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/prosody.h"
#include "sotto/store/keyring.h"
#include "sotto/store/vault.h"

extern char** environ;

namespace sotto::store {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kStartDeadline = 10s;

struct Pipe {
  int read = -1;
  int write = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) == 0) {
      read = fds[0];
      write = fds[1];
    }
  }
  ~Pipe() {
    close_read();
    close_write();
  }
  void close_read() {
    if (read >= 0) ::close(read);
    read = -1;
  }
  void close_write() {
    if (write >= 0) ::close(write);
    write = -1;
  }
};

// Starts argv (found on PATH) as the leader of a new process group, stdin and
// stdout from the given descriptors (-1: /dev/null), stderr to `log`.
pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env, int stdin_fd,
            int stdout_fd, const fs::path& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (stdin_fd >= 0)
    posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0);
  else
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  if (stdout_fd >= 0)
    posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1);
  else
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  pid_t pid = -1;
  if (::posix_spawnp(&pid, args[0], &actions, &attributes, args.data(), envp.data()) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  return pid;
}

// Waits for `pid` until `deadline`; true once it has been reaped.
bool reap(pid_t pid, Clock::time_point deadline, int* status = nullptr) {
  int ignored = 0;
  while (true) {
    pid_t done = ::waitpid(pid, status ? status : &ignored, WNOHANG);
    if (done == pid || (done < 0 && errno == ECHILD)) return true;
    if (Clock::now() >= deadline) return false;
    ::poll(nullptr, 0, 5);
  }
}

// SIGTERM to the whole group, SIGKILL if it lingers past a deadline.
void stop_group(pid_t& pid) {
  if (pid <= 0) return;
  ::kill(-pid, SIGTERM);
  if (!reap(pid, Clock::now() + 5s)) {
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  ::kill(-pid, SIGKILL);  // anything the leader left behind in its group
  pid = -1;
}

// Reads from `fd` until EOF, `stop_at` or the deadline.
std::string read_until(int fd, Clock::time_point deadline, char stop_at = '\0') {
  std::string out;
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (::poll(&p, 1, static_cast<int>(std::max<long long>(left, 1))) <= 0) continue;
    char buffer[512];
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
    if (stop_at != '\0' && out.find(stop_at) != std::string::npos) break;
  }
  return out;
}

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class KeyringTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    dir_ = temp_.path();
    for (const char* sub : {"home", "data", "config", "cache", "run", "profile"})
      fs::create_directories(dir_ / sub);
    fs::permissions(dir_ / "run", fs::perms::owner_all);
    file_ = dir_ / "profile" / "key";
    randombytes_buf(key_.data(), key_.size());
    if (const char* bus = std::getenv("DBUS_SESSION_BUS_ADDRESS")) saved_bus_ = bus;

    for (char** e = environ; *e != nullptr; ++e) {
      std::string_view entry(*e);
      bool replaced = false;
      for (std::string_view name :
           {"HOME=", "XDG_DATA_HOME=", "XDG_CONFIG_HOME=", "XDG_CACHE_HOME=", "XDG_RUNTIME_DIR=",
            "DBUS_SESSION_BUS_ADDRESS=", "DISPLAY=", "WAYLAND_DISPLAY=", "GNOME_KEYRING_CONTROL=",
            "SSH_AUTH_SOCK="})
        replaced = replaced || entry.starts_with(name);
      if (!replaced) env_.emplace_back(entry);
    }
    env_.push_back("HOME=" + (dir_ / "home").string());
    env_.push_back("XDG_DATA_HOME=" + (dir_ / "data").string());
    env_.push_back("XDG_CONFIG_HOME=" + (dir_ / "config").string());
    env_.push_back("XDG_CACHE_HOME=" + (dir_ / "cache").string());
    env_.push_back("XDG_RUNTIME_DIR=" + (dir_ / "run").string());

    ASSERT_NO_FATAL_FAILURE(start_bus());
    env_.push_back("DBUS_SESSION_BUS_ADDRESS=" + bus_address_);
    ASSERT_NO_FATAL_FAILURE(start_keyring());
    ::setenv("DBUS_SESSION_BUS_ADDRESS", bus_address_.c_str(), 1);
  }

  void TearDown() override {
    stop_group(keyring_pid_);
    stop_group(bus_pid_);
    if (saved_bus_)
      ::setenv("DBUS_SESSION_BUS_ADDRESS", saved_bus_->c_str(), 1);
    else
      ::unsetenv("DBUS_SESSION_BUS_ADDRESS");
    if (HasFailure())
      for (const char* log : {"bus.log", "keyring.log"})
        std::cerr << "--- " << log << ":\n" << read_text(dir_ / log);
  }

  // A session bus that knows no .service files: when the keyring stops, no
  // other one is activated in its place.
  void start_bus() {
    std::ofstream(dir_ / "bus.conf")
        << "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
           " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
           "<busconfig>\n"
           "  <type>session</type>\n"
           "  <listen>unix:path="
        << (dir_ / "bus").string()
        << "</listen>\n"
           "  <auth>EXTERNAL</auth>\n"
           "  <policy context=\"default\">\n"
           "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
           "    <allow eavesdrop=\"true\"/>\n"
           "    <allow own=\"*\"/>\n"
           "  </policy>\n"
           "</busconfig>\n";
    Pipe address;
    ASSERT_GE(address.read, 0);
    bus_pid_ = spawn({"dbus-daemon", "--config-file=" + (dir_ / "bus.conf").string(), "--nofork",
                      "--print-address=1"},
                     env_, -1, address.write, dir_ / "bus.log");
    ASSERT_GT(bus_pid_, 0) << "dbus-daemon is not installed (scripts/setup installs it)";
    address.close_write();
    std::string line = read_until(address.read, Clock::now() + kStartDeadline, '\n');
    ASSERT_NE(line.find('\n'), std::string::npos) << "dbus-daemon printed no address";
    bus_address_ = line.substr(0, line.find('\n'));
  }

  // gnome-keyring-daemon --unlock reads the login password on stdin and
  // creates the login keyring with it when there is none.
  void start_keyring() {
    Pipe password;
    ASSERT_GE(password.read, 0);
    keyring_pid_ =
        spawn({"gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"}, env_,
              password.read, -1, dir_ / "keyring.log");
    ASSERT_GT(keyring_pid_, 0) << "gnome-keyring is not installed (scripts/setup installs it)";
    password.close_read();
    const std::string throwaway = "throwaway test password";
    ASSERT_EQ(::write(password.write, throwaway.data(), throwaway.size()),
              static_cast<ssize_t>(throwaway.size()));
    password.close_write();

    // Ready when the default alias names the unlocked login collection.
    const auto deadline = Clock::now() + kStartDeadline;
    std::string answer;
    while (Clock::now() < deadline) {
      answer = ask_bus({"--dest=org.freedesktop.secrets", "/org/freedesktop/secrets",
                        "org.freedesktop.Secret.Service.ReadAlias", "string:default"},
                       deadline);
      if (answer.find("/org/freedesktop/secrets/collection/login") != std::string::npos) return;
      ::poll(nullptr, 0, 20);
    }
    FAIL() << "gnome-keyring-daemon did not offer a login keyring in time: " << answer;
  }

  // dbus-send on the test bus; its reply, or "" on failure.
  std::string ask_bus(std::vector<std::string> call, Clock::time_point deadline) {
    std::vector<std::string> argv{"dbus-send", "--bus=" + bus_address_, "--print-reply",
                                  "--reply-timeout=1000"};
    argv.insert(argv.end(), call.begin(), call.end());
    Pipe out;
    pid_t pid = spawn(argv, env_, -1, out.write, dir_ / "dbus-send.log");
    out.close_write();
    if (pid <= 0) return {};
    std::string reply = read_until(out.read, deadline);
    int status = 0;
    if (!reap(pid, deadline, &status)) {
      stop_group(pid);
      return {};
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? reply : std::string();
  }

  void stop_keyring() {
    stop_group(keyring_pid_);
    // The bus drops the name when the daemon's connection closes.
    const auto deadline = Clock::now() + kStartDeadline;
    while (Clock::now() < deadline) {
      std::string answer =
          ask_bus({"--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
                   "org.freedesktop.DBus.NameHasOwner", "string:org.freedesktop.secrets"},
                  deadline);
      if (answer.find("boolean false") != std::string::npos) return;
      ::poll(nullptr, 0, 5);
    }
    FAIL() << "org.freedesktop.secrets still has an owner";
  }

  keyring::VaultId item_id() const {
    const std::string bytes = read_text(file_);
    keyring::VaultId id{};
    EXPECT_EQ(bytes.size(), 10 + id.size());
    if (bytes.size() == 10 + id.size()) std::memcpy(id.data(), bytes.data() + 10, id.size());
    return id;
  }

  bool holds_key(const std::string& bytes) const {
    char hex[kDataKeyBytes * 2 + 1];
    sodium_bin2hex(hex, sizeof hex, key_.data(), key_.size());
    return bytes.find(std::string(reinterpret_cast<const char*>(key_.data()), key_.size())) !=
               std::string::npos ||
           bytes.find(hex) != std::string::npos;
  }

  test::TempDir temp_{"sotto-keyring"};
  fs::path dir_;
  fs::path file_;
  std::vector<std::string> env_;
  std::string bus_address_;
  pid_t bus_pid_ = -1;
  pid_t keyring_pid_ = -1;
  std::optional<std::string> saved_bus_;
  std::array<unsigned char, kDataKeyBytes> key_{};
  std::array<unsigned char, kDataKeyBytes> out_{};
};

TEST_F(KeyringTest, WithoutAPasswordTheKeyLivesInTheKeyring) {
  ASSERT_TRUE(vault_write(file_, key_, std::nullopt));
  EXPECT_EQ(vault_protection(file_).value(), KeyProtection::keyring);
  EXPECT_FALSE(holds_key(read_text(file_)));
  struct stat st {};
  ASSERT_EQ(::stat(file_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  ASSERT_TRUE(vault_read(file_, std::nullopt, out_));
  EXPECT_EQ(out_, key_);

  // The keyring's own files hold the key encrypted, not in the clear.
  for (const auto& entry : fs::recursive_directory_iterator(dir_)) {
    if (entry.is_regular_file()) {
      EXPECT_FALSE(holds_key(read_text(entry.path()))) << entry.path();
    }
  }

  const fs::path plain = dir_ / "profile" / "plain-key";
  ASSERT_TRUE(vault_write(plain, key_, std::nullopt, fastest_kdf_cost(), /*use_keyring=*/false));
  EXPECT_EQ(vault_protection(plain).value(), KeyProtection::key_file);
}

TEST_F(KeyringTest, SettingAMasterPasswordTakesTheKeyOutOfTheKeyring) {
  ASSERT_TRUE(vault_write(file_, key_, std::nullopt));
  const keyring::VaultId first = item_id();
  ASSERT_TRUE(keyring::lookup(first, out_));
  EXPECT_EQ(out_, key_);

  ASSERT_TRUE(vault_write(file_, key_, std::string("correct horse"), fastest_kdf_cost()));
  EXPECT_EQ(vault_protection(file_).value(), KeyProtection::master_password);
  EXPECT_EQ(keyring::lookup(first, out_).error().code, Errc::not_found);
  out_.fill(0);
  ASSERT_TRUE(vault_read(file_, std::string("correct horse"), out_));
  EXPECT_EQ(out_, key_);

  // Removing the password again puts the key back, as a new item.
  ASSERT_TRUE(vault_write(file_, out_, std::nullopt));
  EXPECT_EQ(vault_protection(file_).value(), KeyProtection::keyring);
  EXPECT_NE(item_id(), first);
  out_.fill(0);
  ASSERT_TRUE(vault_read(file_, std::nullopt, out_));
  EXPECT_EQ(out_, key_);
}

TEST_F(KeyringTest, ErasingTheVaultDeletesTheItem) {
  ASSERT_TRUE(vault_write(file_, key_, std::nullopt));
  const keyring::VaultId id = item_id();
  ASSERT_TRUE(vault_erase(file_));
  EXPECT_FALSE(fs::exists(file_));
  EXPECT_EQ(keyring::lookup(id, out_).error().code, Errc::not_found);
}

TEST_F(KeyringTest, AKeyringWithoutTheItemSaysSo) {
  ASSERT_TRUE(vault_write(file_, key_, std::nullopt));
  ASSERT_TRUE(keyring::erase(item_id()));
  auto read = vault_read(file_, std::nullopt, out_);
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code, Errc::io);
  EXPECT_EQ(read.error().message, kKeyringLostKey);
}

TEST_F(KeyringTest, AStoppedKeyringGivesAClearErrorAndNewVaultsFallBackToAKeyFile) {
  ASSERT_TRUE(vault_write(file_, key_, std::nullopt));
  ASSERT_NO_FATAL_FAILURE(stop_keyring());

  const auto start = Clock::now();
  auto read = vault_read(file_, std::nullopt, out_);
  EXPECT_LT(Clock::now() - start, keyring::kKeyringDeadline + 1s);
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code, Errc::io);
  EXPECT_EQ(read.error().message, kKeyringUnavailable);

  auto erase = vault_erase(file_);
  ASSERT_FALSE(erase);
  EXPECT_EQ(erase.error().message, kKeyringUnavailable);
  EXPECT_TRUE(fs::exists(file_)) << "the only record of the item is kept";

  const fs::path other = dir_ / "profile" / "other-key";
  ASSERT_TRUE(vault_write(other, key_, std::nullopt));
  EXPECT_EQ(vault_protection(other).value(), KeyProtection::key_file);
}

TEST_F(KeyringTest, LeavingTheKeyringWhileItIsGoneKeepsTheNewVaultAndSaysWhatIsLeft) {
  ASSERT_TRUE(vault_write(file_, key_, std::nullopt));
  ASSERT_NO_FATAL_FAILURE(stop_keyring());
  auto moved = vault_write(file_, key_, std::string("pw"), fastest_kdf_cost());
  ASSERT_FALSE(moved);
  EXPECT_EQ(moved.error().code, Errc::io);
  EXPECT_NE(moved.error().message.find("Sotto profile key (profile)"), std::string::npos)
      << moved.error().message;
  EXPECT_EQ(vault_protection(file_).value(), KeyProtection::master_password);
  ASSERT_TRUE(vault_read(file_, std::string("pw"), out_));
  EXPECT_EQ(out_, key_);
}

TEST_F(KeyringTest, ALockedKeyringIsNeverPromptedFor) {
  ASSERT_TRUE(vault_write(file_, key_, std::nullopt));
  ASSERT_NE(ask_bus({"--dest=org.freedesktop.secrets", "/org/freedesktop/secrets",
                     "org.freedesktop.Secret.Service.Lock",
                     "array:objpath:/org/freedesktop/secrets/collection/login"},
                    Clock::now() + kStartDeadline),
            "");

  auto read = vault_read(file_, std::nullopt, out_);
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().message, kKeyringUnavailable);
  EXPECT_NE(read.error().detail.find("locked"), std::string::npos) << read.error().detail;

  const fs::path other = dir_ / "profile" / "other-key";
  ASSERT_TRUE(vault_write(other, key_, std::nullopt));
  EXPECT_EQ(vault_protection(other).value(), KeyProtection::key_file);
}

TEST_F(KeyringTest, AKeyringThatHangsIsGivenUpOnAtTheDeadline) {
  ASSERT_TRUE(vault_write(file_, key_, std::nullopt));
  ASSERT_EQ(::kill(-keyring_pid_, SIGSTOP), 0);
  const auto start = Clock::now();
  auto read = vault_read(file_, std::nullopt, out_);
  const auto took = Clock::now() - start;
  ::kill(-keyring_pid_, SIGCONT);
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().message, kKeyringUnavailable);
  EXPECT_GE(took, keyring::kKeyringDeadline);
  EXPECT_LT(took, keyring::kKeyringDeadline + 1s);
}

}  // namespace
}  // namespace sotto::store
