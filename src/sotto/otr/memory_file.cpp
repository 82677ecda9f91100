#include "sotto/otr/memory_file.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include <openssl/crypto.h>

namespace sotto::otr::detail {
namespace {

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Zeroes the memfd's pages before they go back to the kernel.
void wipe_fd(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) {
    std::vector<char> zeros(static_cast<std::size_t>(st.st_size), 0);
    [[maybe_unused]] ssize_t n = ::pwrite(fd, zeros.data(), zeros.size(), 0);
  }
  [[maybe_unused]] int rc = ::ftruncate(fd, 0);
}

}  // namespace

void wipe(std::string& secret) { secure_wipe(secret); }

void wipe(char* secret) {
  if (secret != nullptr) OPENSSL_cleanse(secret, std::strlen(secret));
}

Result<std::string> with_memory_file(std::string_view input,
                                     const std::function<unsigned(FILE*)>& fn) {
  int fd = ::memfd_create("sotto-otr", MFD_CLOEXEC);
  if (fd < 0) return fail(Errc::io, "could not create an in-memory file for OTR data");
  if (!write_all(fd, input) || ::lseek(fd, 0, SEEK_SET) != 0) {
    wipe_fd(fd);
    ::close(fd);
    return fail(Errc::io, "could not fill an in-memory file for OTR data");
  }
  FILE* file = ::fdopen(fd, "w+");
  if (file == nullptr) {
    wipe_fd(fd);
    ::close(fd);
    return fail(Errc::io, "could not open an in-memory file for OTR data");
  }
  // Our own stdio buffer, so that it can be wiped: it passes private keys.
  std::array<char, 4096> buffer{};
  std::setvbuf(file, buffer.data(), _IOFBF, buffer.size());

  unsigned err = fn(file);
  std::string output;
  bool read_ok = std::fflush(file) == 0;
  if (read_ok) {
    struct stat st {};
    read_ok = ::fstat(fd, &st) == 0;
    if (read_ok) {
      output.resize(static_cast<std::size_t>(st.st_size));
      std::size_t done = 0;
      while (done < output.size()) {
        ssize_t n =
            ::pread(fd, output.data() + done, output.size() - done, static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += static_cast<std::size_t>(n);
      }
      read_ok = done == output.size();
    }
  }
  wipe_fd(fd);
  std::fclose(file);
  OPENSSL_cleanse(buffer.data(), buffer.size());
  if (err != 0) {
    wipe(output);
    return fail(Errc::invalid_argument, "libotr could not read or write the OTR data");
  }
  if (!read_ok) {
    wipe(output);
    return fail(Errc::io, "could not read back an in-memory file for OTR data");
  }
  return output;
}

}  // namespace sotto::otr::detail
