// Private to sotto/sip: one SIP connection over TCP or TLS on asio, framed
// with wire::next_frame (RFC 3261 §18.3), answering CRLF pings (RFC 5626).
#pragma once

#include <array>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include <asio.hpp>
#include <asio/ssl.hpp>

#include "sotto/base/base.h"

namespace sotto::sip {

class Stream : public std::enable_shared_from_this<Stream> {
 public:
  struct Handler {
    std::function<void()> on_ready;                    // connected (and TLS verified)
    std::function<void(std::string_view)> on_message;  // one whole SIP message
    std::function<void()> on_pong;
    std::function<void(const Error&)> on_closed;  // not after close()
  };

  // An outgoing connection; call connect().
  explicit Stream(asio::any_io_executor executor);
  // An accepted one (plain TCP), ready at once: call start_reading().
  explicit Stream(asio::ip::tcp::socket socket);
  ~Stream();

  void set_handler(Handler handler) { handler_ = std::move(handler); }
  // With `tls`: verified against the system CAs and `server_name`, or
  // trusted when its SHA-256 equals `pinned_sha256`.
  void connect(asio::ip::tcp::endpoint remote, bool tls, std::string server_name,
               std::string pinned_sha256, Millis timeout);
  void start_reading();
  void write(std::string bytes);
  void close();  // no handler call afterwards

  bool ready() const { return ready_; }
  bool closed() const { return closed_; }
  bool tls() const { return tls_wanted_; }
  const asio::ip::tcp::endpoint& remote() const { return remote_; }
  asio::ip::tcp::endpoint local() const;
  const std::string& cert_sha256() const { return cert_sha256_; }

 private:
  void read_loop();
  void write_next();
  void fail(Error error);
  void on_bytes(std::string_view bytes);
  Result<void> verify_peer();

  asio::ip::tcp::socket socket_;
  std::unique_ptr<asio::ssl::context> ssl_context_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_stream_;
  asio::steady_timer deadline_;
  Handler handler_;
  asio::ip::tcp::endpoint remote_;
  bool tls_wanted_ = false;
  bool tls_active_ = false;
  bool ready_ = false;
  bool closed_ = false;
  bool writing_ = false;
  std::string server_name_;
  std::string pinned_sha256_;
  std::string cert_sha256_;
  static constexpr std::size_t kMaxQueuedBytes = 1 << 20;
  std::deque<std::string> queue_;
  std::size_t queued_bytes_ = 0;
  std::string inbox_;
  std::array<char, 16384> buffer_{};
};

}  // namespace sotto::sip
