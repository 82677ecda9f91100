// Private to sotto/xmpp: one TCP (+TLS) connection to an XMPP server on asio.
// Bytes in, bytes out; the XMPP logic lives in Session.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>

#include <asio.hpp>
#include <asio/ssl.hpp>

#include "sotto/base/base.h"
#include "sotto/xmpp/resolver.h"
#include "sotto/xmpp/sasl.h"
#include "sotto/xmpp/xmpp.h"

namespace sotto::xmpp {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  struct Handler {
    std::function<void()> on_connected;  // TCP up (and TLS, for direct TLS)
    std::function<void(std::string_view)> on_data;
    std::function<void()> on_tls_ready;
    std::function<void(Error)> on_error;  // fatal; the connection is closed
  };

  // `domain` is what the certificate must name (the JID's domain).
  Connection(asio::any_io_executor executor, std::string domain, ServerSettings settings,
             Handler handler);
  ~Connection();

  // Resolves (SRV unless a host is set), connects, and for direct TLS
  // handshakes. Every step has the settings' deadline.
  void start();
  void write(std::string bytes);
  // Upgrades the TCP stream to TLS (after <proceed/>); reads pause until done.
  void start_tls();
  // Closes after flushing what is queued.
  void close();
  // Closes at once; no handler is called afterwards.
  void abort();

  bool tls_active() const { return tls_active_; }
  ChannelBindingType channel_binding_type() const;
  std::string channel_binding_data() const;  // raw bytes, empty if none
  const std::string& peer_cert_sha256() const { return cert_sha256_; }

 private:
  void try_endpoint(std::size_t index);
  void handshake(std::function<void()> done);
  Result<void> verify_peer();
  void read_loop();
  void write_next();
  void arm_deadline();
  void disarm_deadline();
  void fail(Error error);

  asio::any_io_executor executor_;
  std::string domain_;
  ServerSettings settings_;
  Handler handler_;
  asio::ip::tcp::resolver resolver_;
  asio::ip::tcp::socket socket_;
  asio::ssl::context ssl_context_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;
  asio::steady_timer deadline_;
  std::deque<std::string> write_queue_;
  bool writing_ = false;
  bool reading_ = false;
  bool tls_active_ = false;
  bool handshaking_ = false;
  bool closed_ = false;
  bool close_after_flush_ = false;
  std::string cert_sha256_;
  std::array<char, 16384> read_buffer_{};
  std::unique_ptr<SrvResolver> srv_resolver_;
  std::vector<ServerEndpoint> endpoints_;
  std::optional<Error> last_error_;
  bool timed_out_ = false;
  bool resolving_srv_ = false;
  bool ready_ = false;  // connected (and, for direct TLS, handshaken)
};

}  // namespace sotto::xmpp
