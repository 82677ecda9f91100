// One sotto-desktop per profile. The running one listens on a Unix socket
// inside the profile folder (mode 0700, so only its owner can connect); a
// second start hands its xmpp: links (or "show yourself") over and exits.
// Plain POSIX sockets under a QSocketNotifier: Qt Network, and the Kerberos
// and proxy libraries it pulls in, would add to every start.
#pragma once

#include <QObject>
#include <QSocketNotifier>
#include <QString>
#include <QStringList>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

namespace sotto::desktop {

class SingleInstance : public QObject {
  Q_OBJECT

 public:
  explicit SingleInstance(std::filesystem::path socket_path, QObject* parent = nullptr);
  ~SingleInstance() override;

  // True when another process listens on the socket and took `lines`.
  bool hand_over(const QStringList& lines);
  enum class Listen {
    listening,    // later starts hand over to us
    taken,        // another process holds the profile's lock: it is starting
    unavailable,  // no socket here (say, a path too long): run without
  };
  // Takes the profile's desktop.lock and listens for later starts (replacing
  // a stale socket a crashed run left).
  Listen listen();

 Q_SIGNALS:
  void received(const QString& line);

 private:
  void accept_connections();
  void read_from(int fd);
  void close_connection(int fd);

  std::filesystem::path path_;
  int listener_ = -1;
  int lock_ = -1;
  std::unique_ptr<QSocketNotifier> accept_notifier_;
  struct Connection {
    std::unique_ptr<QSocketNotifier> notifier;
    std::string buffer;
  };
  std::map<int, Connection> connections_;
};

}  // namespace sotto::desktop
