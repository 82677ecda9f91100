#include "sotto/app/packet_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "sotto/base/base.h"

namespace sotto::app {
namespace {

constexpr std::string_view kLog = "packets";

// "2024-05-01T12:34:56.789Z"
std::string utc_now() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch());
  const std::time_t seconds = static_cast<std::time_t>(ms.count() / 1000);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char text[32];
  const std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(text + n, sizeof text - n, ".%03dZ", static_cast<int>(ms.count() % 1000));
  return text;
}

}  // namespace

PacketLog::~PacketLog() { close(); }

std::filesystem::path PacketLog::file(const std::string& account) const {
  // An account is a bare JID (never a '/'); anything unusual still stays in
  // the folder.
  std::string name = account;
  for (char& c : name) {
    if (c == '/' || static_cast<unsigned char>(c) < 0x20) c = '_';
  }
  if (name.empty() || name.front() == '.') name.insert(0, "_");
  return dir_ / (name + ".log");
}

void PacketLog::write(const std::string& account, PacketDirection direction,
                      std::string_view text) {
  auto it = files_.find(account);
  if (it == files_.end()) {
    const auto path = file(account);
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    int fd = -1;
    if (!ec && ::chmod(dir_.c_str(), 0700) == 0) {
      fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
      // A file left from before keeps no wider mode than ours.
      if (fd >= 0 && ::fchmod(fd, 0600) != 0) {
        ::close(fd);
        fd = -1;
      }
    }
    if (fd < 0) {
      log::warn(kLog, "could not open the packet log " + path.string() + ": " +
                          (ec ? ec.message() : std::string(std::strerror(errno))));
    }
    it = files_.emplace(account, fd).first;
  }
  if (it->second < 0) return;
  std::string entry = utc_now();
  entry += direction == PacketDirection::send ? " SEND " : " RECV ";
  entry.append(text);
  entry += '\n';
  std::size_t written = 0;
  while (written < entry.size()) {
    const ssize_t n = ::write(it->second, entry.data() + written, entry.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      log::warn(kLog, "could not write the packet log " + file(account).string() + ": " +
                          std::strerror(errno));
      ::close(it->second);
      it->second = -1;
      return;
    }
    written += static_cast<std::size_t>(n);
  }
}

void PacketLog::close() {
  for (auto& [account, fd] : files_) {
    if (fd >= 0) ::close(fd);
  }
  files_.clear();
}

}  // namespace sotto::app
