#include "single_instance.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sotto/base/base.h"

namespace sotto::desktop {
namespace {

// A start hands over a few short lines; anything longer is not ours.
constexpr std::size_t kMaxMessage = 64 * 1024;

bool make_address(const std::filesystem::path& path, sockaddr_un& address) {
  const std::string text = path.string();
  if (text.size() >= sizeof(address.sun_path)) return false;
  std::memset(&address, 0, sizeof(address));
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, text.c_str(), text.size() + 1);
  return true;
}

}  // namespace

SingleInstance::SingleInstance(std::filesystem::path socket_path, QObject* parent)
    : QObject(parent), path_(std::move(socket_path)) {}

SingleInstance::~SingleInstance() {
  for (auto& [fd, connection] : connections_) ::close(fd);
  connections_.clear();
  if (listener_ >= 0) {
    ::close(listener_);
    ::unlink(path_.c_str());
  }
  if (lock_ >= 0) ::close(lock_);
}

bool SingleInstance::hand_over(const QStringList& lines) {
  sockaddr_un address{};
  if (!make_address(path_, address)) return false;
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return false;
  }
  QByteArray message;
  for (const QString& line : lines) message += line.toUtf8() + '\n';
  const char* data = message.constData();
  std::size_t left = static_cast<std::size_t>(message.size());
  while (left > 0) {
    const ssize_t n = ::send(fd, data, left, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data += n;
    left -= static_cast<std::size_t>(n);
  }
  ::close(fd);
  return left == 0;  // else the other one took nothing whole: start on our own
}

SingleInstance::Listen SingleInstance::listen() {
  std::error_code ec;
  std::filesystem::create_directories(path_.parent_path(), ec);
  ::chmod(path_.parent_path().c_str(), 0700);
  const std::string lock_path = path_.string() + ".lock";
  lock_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_ >= 0 && ::flock(lock_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(lock_);
    lock_ = -1;
    if (error == EWOULDBLOCK) return Listen::taken;
  }
  sockaddr_un address{};
  if (!make_address(path_, address)) {
    log::warn("desktop",
              "the profile's path is too long for a socket: a second start will "
              "not find this one");
    return Listen::unavailable;
  }
  ::unlink(path_.c_str());  // hand_over() found nobody listening: it is stale
  listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listener_ < 0) return Listen::unavailable;
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(listener_, 8) != 0) {
    log::warn("desktop", std::string("cannot listen for later starts: ") + std::strerror(errno));
    ::close(listener_);
    listener_ = -1;
    return Listen::unavailable;
  }
  ::chmod(path_.c_str(), 0600);
  accept_notifier_ = std::make_unique<QSocketNotifier>(listener_, QSocketNotifier::Read);
  connect(accept_notifier_.get(), &QSocketNotifier::activated, this,
          &SingleInstance::accept_connections);
  return Listen::listening;
}

void SingleInstance::accept_connections() {
  for (;;) {
    const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    Connection& connection = connections_[fd];
    connection.notifier = std::make_unique<QSocketNotifier>(fd, QSocketNotifier::Read);
    connect(connection.notifier.get(), &QSocketNotifier::activated, this,
            [this, fd] { read_from(fd); });
  }
}

void SingleInstance::read_from(int fd) {
  auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  char chunk[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n > 0) {
      it->second.buffer.append(chunk, static_cast<std::size_t>(n));
      if (it->second.buffer.size() > kMaxMessage) break;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // more later
    if (n < 0 && errno == EINTR) continue;
    break;  // end of the message, or an error
  }
  const std::string message = std::move(it->second.buffer);
  close_connection(fd);
  if (message.size() > kMaxMessage) return;
  std::size_t start = 0;
  for (std::size_t end; (end = message.find('\n', start)) != std::string::npos; start = end + 1) {
    Q_EMIT received(QString::fromUtf8(message.data() + start, static_cast<int>(end - start)));
  }
}

void SingleInstance::close_connection(int fd) {
  auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  it->second.notifier->setEnabled(false);
  // The notifier may be the one calling us: delete it later.
  it->second.notifier.release()->deleteLater();
  connections_.erase(it);
  ::close(fd);
}

}  // namespace sotto::desktop
