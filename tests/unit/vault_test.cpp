// The vault: the data key wrapped under a master password (Argon2id +
// XChaCha20-Poly1305) or kept in a 0600 key file. The desktop keyring form is
// tested in keyring_test.cpp; here no session bus is visible, so a vault
// without a password is always a key file (and never reaches a real keyring).
#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/stat.h>

#include <array>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>

#include "harness/prosody.h"
#include "sotto/store/vault.h"

namespace sotto::store {
namespace {

namespace fs = std::filesystem;

class VaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    dir_ = temp_.path();
    file_ = dir_ / "key";
    randombytes_buf(key_.data(), key_.size());
    if (const char* bus = std::getenv("DBUS_SESSION_BUS_ADDRESS")) saved_bus_ = bus;
    ::unsetenv("DBUS_SESSION_BUS_ADDRESS");
  }
  void TearDown() override {
    if (saved_bus_) ::setenv("DBUS_SESSION_BUS_ADDRESS", saved_bus_->c_str(), 1);
  }

  std::string contents() const {
    std::ifstream in(file_, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  void overwrite(const std::string& bytes) const {
    std::ofstream(file_, std::ios::binary | std::ios::trunc) << bytes;
  }
  bool contains_key(const std::string& bytes) const {
    return bytes.find(std::string(reinterpret_cast<const char*>(key_.data()), key_.size())) !=
           std::string::npos;
  }

  test::TempDir temp_{"sotto-vault"};
  fs::path dir_;
  fs::path file_;
  std::array<unsigned char, kDataKeyBytes> key_{};
  std::array<unsigned char, kDataKeyBytes> out_{};
  std::optional<std::string> saved_bus_;
};

TEST_F(VaultTest, AMasterPasswordWrapsTheKeyAndOnlyItUnwrapsIt) {
  ASSERT_TRUE(vault_write(file_, key_, std::string("correct horse"), fastest_kdf_cost()));
  EXPECT_EQ(vault_protection(file_).value(), KeyProtection::master_password);
  EXPECT_FALSE(contains_key(contents()));
  struct stat st {};
  ASSERT_EQ(::stat(file_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  ASSERT_TRUE(vault_read(file_, std::string("correct horse"), out_));
  EXPECT_EQ(out_, key_);

  const std::string before = contents();
  auto wrong = vault_read(file_, std::string("correct horsE"), out_);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, Errc::auth);
  EXPECT_EQ(wrong.error().message, "the master password is wrong");
  EXPECT_EQ(contents(), before) << "a wrong password changes nothing";

  auto none = vault_read(file_, std::nullopt, out_);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Errc::auth);
}

TEST_F(VaultTest, ChangingAndRemovingThePasswordRewrapsTheSameKey) {
  ASSERT_TRUE(vault_write(file_, key_, std::string("old"), fastest_kdf_cost()));
  ASSERT_TRUE(vault_read(file_, std::string("old"), out_));
  ASSERT_TRUE(vault_write(file_, out_, std::string("new"), fastest_kdf_cost()));
  EXPECT_FALSE(vault_read(file_, std::string("old"), out_));
  ASSERT_TRUE(vault_read(file_, std::string("new"), out_));
  EXPECT_EQ(out_, key_);

  ASSERT_TRUE(vault_write(file_, out_, std::nullopt));
  EXPECT_EQ(vault_protection(file_).value(), KeyProtection::key_file);
  out_.fill(0);
  ASSERT_TRUE(vault_read(file_, std::nullopt, out_));
  EXPECT_EQ(out_, key_);
  EXPECT_FALSE(fs::exists(dir_ / "key.tmp"));
}

TEST_F(VaultTest, DamageIsReportedNotMistakenForAKey) {
  EXPECT_EQ(vault_protection(file_).error().code, Errc::not_found);
  ASSERT_TRUE(vault_write(file_, key_, std::string("pw"), fastest_kdf_cost()));
  const std::string good = contents();

  overwrite(good.substr(0, good.size() - 1));
  EXPECT_EQ(vault_read(file_, std::string("pw"), out_).error().code, Errc::io);

  overwrite("not a vault at all");
  EXPECT_EQ(vault_read(file_, std::string("pw"), out_).error().code, Errc::io);

  // A tampered cost (here: 2^40 bytes of memory) is refused before any work.
  std::string costly = good;
  costly[10 + 1 + 8 + 5] = 1;
  overwrite(costly);
  EXPECT_EQ(vault_read(file_, std::string("pw"), out_).error().code, Errc::io);

  // A flipped bit in the wrapped key fails authentication.
  std::string flipped = good;
  flipped[flipped.size() - 20] ^= 1;
  overwrite(flipped);
  EXPECT_EQ(vault_read(file_, std::string("pw"), out_).error().code, Errc::auth);
}

TEST_F(VaultTest, WithoutASessionBusNoPasswordMeansAKeyFile) {
  ASSERT_TRUE(vault_write(file_, key_, std::nullopt));
  EXPECT_EQ(vault_protection(file_).value(), KeyProtection::key_file);
  struct stat st {};
  ASSERT_EQ(::stat(file_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_TRUE(vault_read(file_, std::nullopt, out_));
  EXPECT_EQ(out_, key_);

  ASSERT_TRUE(vault_erase(file_));
  EXPECT_FALSE(fs::exists(file_));
  EXPECT_TRUE(vault_erase(file_)) << "erasing what is gone is not an error";
}

TEST_F(VaultTest, AKeyringVaultIsDamagedWhenItsItemIdIsCut) {
  // "SOTTOKEY" | 1 | 3 (keyring) | 15 of the 16 bytes of the vault id
  overwrite(std::string("SOTTOKEY\x01\x03", 10) + std::string(15, 'x'));
  EXPECT_EQ(vault_protection(file_).value(), KeyProtection::keyring);
  auto read = vault_read(file_, std::nullopt, out_);
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code, Errc::io);
  EXPECT_NE(read.error().message.find("damaged"), std::string::npos);
}

TEST_F(VaultTest, AnEmptyMasterPasswordIsRefused) {
  auto empty = vault_write(file_, key_, std::string(), fastest_kdf_cost());
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, Errc::invalid_argument);
  EXPECT_FALSE(fs::exists(file_));
}

}  // namespace
}  // namespace sotto::store
