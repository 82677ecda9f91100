#include "sotto/store/vault.h"

#include "sotto/store/keyring.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <system_error>

namespace sotto::store {
namespace {

// On-disk format (all integers little-endian):
//   "SOTTOKEY" | version=1 | kind
//   kind 1 (master password): alg=2 (Argon2id v1.3) | ops u64 | mem u64 |
//          salt[16] | nonce[24] | XChaCha20-Poly1305(data key)[32+16],
//          with everything before the ciphertext as associated data
//   kind 2 (key file): data key[32]
//   kind 3 (keyring): vault id[16], the item's "vault" attribute in hex
constexpr std::string_view kMagic = "SOTTOKEY";
constexpr unsigned char kVersion = 1;
constexpr unsigned char kKindPassword = 1;
constexpr unsigned char kKindKeyFile = 2;
constexpr unsigned char kKindKeyring = 3;
constexpr unsigned char kAlgArgon2id13 = 2;
constexpr std::size_t kSaltBytes = crypto_pwhash_SALTBYTES;
constexpr std::size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr std::size_t kHeaderBytes = kMagic.size() + 2;
constexpr std::size_t kPasswordHeaderBytes = kHeaderBytes + 1 + 8 + 8 + kSaltBytes + kNonceBytes;
constexpr std::size_t kPasswordFileBytes = kPasswordHeaderBytes + kDataKeyBytes + kTagBytes;
constexpr std::size_t kKeyFileBytes = kHeaderBytes + kDataKeyBytes;
constexpr std::size_t kKeyringFileBytes = kHeaderBytes + keyring::kVaultIdBytes;
// A damaged or hostile file must not make us allocate without bound.
constexpr unsigned long long kMaxOps = 64;
constexpr std::size_t kMaxMem = std::size_t{1} << 31;

bool sodium_ready() {
  static const bool ready = sodium_init() >= 0;
  return ready;
}

void put_u64(std::string& out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t get_u64(const unsigned char* in) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | in[i];
  return value;
}

Error damaged(const std::filesystem::path& file) {
  return Error{Errc::io, "the profile's key file " + file.string() + " is damaged", {}};
}

Result<std::string> read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail(Errc::not_found, "no key file at " + file.string());
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < kHeaderBytes || std::string_view(bytes).substr(0, kMagic.size()) != kMagic ||
      static_cast<unsigned char>(bytes[kMagic.size()]) != kVersion)
    return tl::unexpected(damaged(file));
  return bytes;
}

Result<void> write_atomically(const std::filesystem::path& file, std::string& bytes) {
  std::filesystem::path temp = file;
  temp += ".tmp";
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return fail(Errc::io, "could not write " + temp.string() + ": " + std::strerror(errno));
  ::fchmod(fd, 0600);
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      sodium_memzero(bytes.data(), bytes.size());
      return fail(Errc::io, "could not write " + temp.string() + ": " + std::strerror(errno));
    }
    done += static_cast<std::size_t>(n);
  }
  sodium_memzero(bytes.data(), bytes.size());
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(temp.c_str(), file.c_str()) != 0)
    return fail(Errc::io, "could not write " + file.string() + ": " + std::strerror(errno));
  // The rename itself must survive a crash.
  int dir = ::open(file.parent_path().empty() ? "." : file.parent_path().c_str(),
                   O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return {};
}

// The key-encryption key from the password, into sodium-guarded memory.
struct Kek {
  unsigned char* bytes =
      static_cast<unsigned char*>(sodium_malloc(crypto_aead_xchacha20poly1305_ietf_KEYBYTES));
  ~Kek() { sodium_free(bytes); }
};

Result<void> derive(Kek& kek, const std::string& password, const unsigned char* salt,
                    KdfCost cost) {
  if (kek.bytes == nullptr) return fail(Errc::io, "out of secure memory");
  if (crypto_pwhash(kek.bytes, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, password.data(),
                    password.size(), salt, cost.ops, cost.mem_bytes,
                    crypto_pwhash_ALG_ARGON2ID13) != 0)
    return fail(Errc::io, "not enough memory to check the master password");
  return {};
}

unsigned char kind_of(const std::string& bytes) {
  return static_cast<unsigned char>(bytes[kMagic.size() + 1]);
}

std::optional<keyring::VaultId> keyring_id(const std::string& bytes) {
  if (kind_of(bytes) != kKindKeyring || bytes.size() != kKeyringFileBytes) return std::nullopt;
  keyring::VaultId id;
  std::memcpy(id.data(), bytes.data() + kHeaderBytes, id.size());
  return id;
}

// The keyring item the vault in `file` names, if it is a keyring vault.
std::optional<keyring::VaultId> keyring_id(const std::filesystem::path& file) {
  auto bytes = read_file(file);
  if (!bytes) return std::nullopt;
  auto id = keyring_id(*bytes);
  sodium_memzero(bytes->data(), bytes->size());
  return id;
}

std::string profile_name(const std::filesystem::path& file) {
  const auto folder = file.parent_path().filename();
  return folder.empty() ? file.filename().string() : folder.string();
}

Unexpected keyring_error(const Error& error) {
  if (error.code == Errc::not_found) return fail(Errc::io, std::string(kKeyringLostKey));
  return fail(Errc::io, std::string(kKeyringUnavailable), error.message);
}

// After `file` was rewritten: the item the old vault named must not keep a
// copy of the key the new vault guards otherwise.
Result<void> retire(const std::filesystem::path& file, const std::optional<keyring::VaultId>& old) {
  if (!old) return {};
  auto erased = keyring::erase(*old);
  if (!erased)
    return fail(
        Errc::io,
        "the profile's key is stored anew, but the desktop keyring still holds the old copy "
        "(\"" +
            keyring::item_label(profile_name(file)) +
            "\"); unlock the keyring and delete that item",
        erased.error().message);
  return {};
}

}  // namespace

KdfCost default_kdf_cost() {
  // Measured here: 3 passes over 256 MiB ("moderate") took 0.87 s, 3 over
  // 128 MiB 0.38 s; 4 over 128 MiB lands near the half second we aim for.
  return {4, std::size_t{128} << 20};
}

KdfCost fastest_kdf_cost() { return {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN}; }

Result<KeyProtection> vault_protection(const std::filesystem::path& file) {
  auto bytes = read_file(file);
  if (!bytes) return tl::unexpected(bytes.error());
  unsigned char kind = kind_of(*bytes);
  sodium_memzero(bytes->data(), bytes->size());
  if (kind == kKindPassword) return KeyProtection::master_password;
  if (kind == kKindKeyring) return KeyProtection::keyring;
  if (kind == kKindKeyFile) return KeyProtection::key_file;
  return tl::unexpected(damaged(file));
}

Result<void> vault_write(const std::filesystem::path& file,
                         std::span<const unsigned char, kDataKeyBytes> key,
                         const std::optional<std::string>& master_password, KdfCost cost,
                         bool use_keyring) {
  if (!sodium_ready()) return fail(Errc::io, "libsodium could not start");
  if (master_password && master_password->empty())
    return fail(Errc::invalid_argument, "the master password is empty");
  const auto old_item = keyring_id(file);
  std::string out(kMagic);
  out.push_back(static_cast<char>(kVersion));
  if (!master_password && use_keyring) {
    keyring::VaultId id;
    randombytes_buf(id.data(), id.size());
    if (keyring::store(id, keyring::item_label(profile_name(file)), key)) {
      out.push_back(static_cast<char>(kKindKeyring));
      out.append(reinterpret_cast<const char*>(id.data()), id.size());
      if (auto written = write_atomically(file, out); !written) {
        (void)keyring::erase(id);
        return written;
      }
      return retire(file, old_item);
    }
  }
  if (!master_password) {
    out.push_back(static_cast<char>(kKindKeyFile));
    out.append(reinterpret_cast<const char*>(key.data()), key.size());
    if (auto written = write_atomically(file, out); !written) return written;
    return retire(file, old_item);
  }
  out.push_back(static_cast<char>(kKindPassword));
  out.push_back(static_cast<char>(kAlgArgon2id13));
  put_u64(out, cost.ops);
  put_u64(out, cost.mem_bytes);
  unsigned char salt[kSaltBytes];
  unsigned char nonce[kNonceBytes];
  randombytes_buf(salt, sizeof salt);
  randombytes_buf(nonce, sizeof nonce);
  out.append(reinterpret_cast<const char*>(salt), sizeof salt);
  out.append(reinterpret_cast<const char*>(nonce), sizeof nonce);
  Kek kek;
  if (auto derived = derive(kek, *master_password, salt, cost); !derived) return derived;
  unsigned char sealed[kDataKeyBytes + kTagBytes];
  unsigned long long sealed_length = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(sealed, &sealed_length, key.data(), key.size(),
                                             reinterpret_cast<const unsigned char*>(out.data()),
                                             out.size(), nullptr, nonce, kek.bytes);
  out.append(reinterpret_cast<const char*>(sealed), sealed_length);
  if (auto written = write_atomically(file, out); !written) return written;
  return retire(file, old_item);
}

Result<void> vault_read(const std::filesystem::path& file,
                        const std::optional<std::string>& master_password,
                        std::span<unsigned char, kDataKeyBytes> key_out) {
  if (!sodium_ready()) return fail(Errc::io, "libsodium could not start");
  auto read = read_file(file);
  if (!read) return tl::unexpected(read.error());
  std::string& bytes = *read;
  const auto* in = reinterpret_cast<const unsigned char*>(bytes.data());
  const unsigned char kind = in[kMagic.size() + 1];
  struct Wipe {
    std::string& s;
    ~Wipe() { sodium_memzero(s.data(), s.size()); }
  } wipe{bytes};
  if (kind == kKindKeyring) {
    const auto id = keyring_id(bytes);
    if (!id) return tl::unexpected(damaged(file));
    if (auto found = keyring::lookup(*id, key_out); !found) return keyring_error(found.error());
    return {};
  }
  if (kind == kKindKeyFile) {
    if (bytes.size() != kKeyFileBytes) return tl::unexpected(damaged(file));
    std::memcpy(key_out.data(), in + kHeaderBytes, kDataKeyBytes);
    return {};
  }
  if (kind != kKindPassword || bytes.size() != kPasswordFileBytes ||
      in[kHeaderBytes] != kAlgArgon2id13)
    return tl::unexpected(damaged(file));
  if (!master_password) return fail(Errc::auth, "a master password is needed to open this profile");
  KdfCost cost{get_u64(in + kHeaderBytes + 1),
               static_cast<std::size_t>(get_u64(in + kHeaderBytes + 9))};
  if (cost.ops < crypto_pwhash_OPSLIMIT_MIN || cost.ops > kMaxOps ||
      cost.mem_bytes < crypto_pwhash_MEMLIMIT_MIN || cost.mem_bytes > kMaxMem)
    return tl::unexpected(damaged(file));
  const unsigned char* salt = in + kHeaderBytes + 17;
  const unsigned char* nonce = salt + kSaltBytes;
  Kek kek;
  if (auto derived = derive(kek, *master_password, salt, cost); !derived) return derived;
  unsigned long long opened = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          key_out.data(), &opened, nullptr, in + kPasswordHeaderBytes, kDataKeyBytes + kTagBytes,
          in, kPasswordHeaderBytes, nonce, kek.bytes) != 0 ||
      opened != kDataKeyBytes) {
    sodium_memzero(key_out.data(), key_out.size());
    return fail(Errc::auth, "the master password is wrong");
  }
  return {};
}

Result<void> vault_erase(const std::filesystem::path& file) {
  if (const auto item = keyring_id(file)) {
    if (auto erased = keyring::erase(*item); !erased) return keyring_error(erased.error());
  }
  std::error_code error;
  std::filesystem::remove(file, error);
  if (error) return fail(Errc::io, "could not delete " + file.string() + ": " + error.message());
  return {};
}

}  // namespace sotto::store
