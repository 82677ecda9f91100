#include "sotto/sip/stream.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "sotto/sip/wire.h"

namespace sotto::sip {
namespace {

constexpr std::string_view kLog = "sip.stream";

std::string leaf_sha256(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return {};
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  X509_digest(cert, EVP_sha256(), digest, &length);
  X509_free(cert);
  return to_hex(std::string_view(reinterpret_cast<const char*>(digest), length));
}

std::string describe(const std::error_code& ec) {
  if (ec == asio::error::connection_refused) return "the server refused the connection";
  if (ec == asio::error::connection_reset) return "the server reset the connection";
  if (ec == asio::error::eof) return "the server closed the connection";
  if (ec == asio::error::operation_aborted) return "the connection took too long";
  return ec.message();
}

}  // namespace

Stream::Stream(asio::any_io_executor executor) : socket_(executor), deadline_(executor) {}

Stream::Stream(asio::ip::tcp::socket socket)
    : socket_(std::move(socket)), deadline_(socket_.get_executor()) {
  std::error_code ec;
  remote_ = socket_.remote_endpoint(ec);
  ready_ = true;
}

Stream::~Stream() { close(); }

asio::ip::tcp::endpoint Stream::local() const {
  std::error_code ec;
  return socket_.local_endpoint(ec);
}

void Stream::connect(asio::ip::tcp::endpoint remote, bool tls, std::string server_name,
                     std::string pinned_sha256, Millis timeout) {
  remote_ = remote;
  tls_wanted_ = tls;
  server_name_ = std::move(server_name);
  pinned_sha256_ = std::move(pinned_sha256);
  std::weak_ptr<Stream> weak = shared_from_this();
  deadline_.expires_after(timeout);
  deadline_.async_wait([weak](std::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->closed_ || self->ready_) return;
    self->fail(Error{Errc::timeout, "connecting to the SIP server took too long", {}});
  });
  auto self = shared_from_this();
  socket_.async_connect(remote, [self](std::error_code ec) {
    if (self->closed_) return;
    if (ec) {
      self->fail(Error{Errc::network, describe(ec), {}});
      return;
    }
    std::error_code ignored;
    self->socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
    if (!self->tls_wanted_) {
      self->deadline_.cancel();
      self->ready_ = true;
      if (self->handler_.on_ready) self->handler_.on_ready();
      self->start_reading();
      self->write_next();
      return;
    }
    self->ssl_context_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    self->ssl_context_->set_options(asio::ssl::context::default_workarounds |
                                    asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                                    asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 |
                                    asio::ssl::context::no_compression);
    std::error_code verify_ec;
    self->ssl_context_->set_default_verify_paths(verify_ec);
    // The handshake completes; verify_peer() decides, so that a refusal can
    // name the fingerprint and a pin can be honoured.
    self->ssl_context_->set_verify_mode(asio::ssl::verify_none);
    self->tls_stream_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(
        self->socket_, *self->ssl_context_);
    SSL* ssl = self->tls_stream_->native_handle();
    if (SSL_set_tlsext_host_name(ssl, self->server_name_.c_str()) != 1 ||
        SSL_set1_host(ssl, self->server_name_.c_str()) != 1) {
      self->fail(Error{Errc::tls, "could not set up the TLS name check", {}});
      return;
    }
    self->tls_stream_->async_handshake(asio::ssl::stream_base::client, [self](std::error_code ec) {
      if (self->closed_) return;
      self->deadline_.cancel();
      if (ec) {
        self->fail(Error{Errc::tls, "the TLS handshake failed: " + ec.message(), {}});
        return;
      }
      self->tls_active_ = true;
      if (auto verified = self->verify_peer(); !verified) {
        self->fail(verified.error());
        return;
      }
      self->ready_ = true;
      if (self->handler_.on_ready) self->handler_.on_ready();
      self->start_reading();
      self->write_next();
    });
  });
}

Result<void> Stream::verify_peer() {
  SSL* ssl = tls_stream_->native_handle();
  cert_sha256_ = leaf_sha256(ssl);
  if (cert_sha256_.empty()) return sotto::fail(Errc::certificate, "the server sent no certificate");
  long verify = SSL_get_verify_result(ssl);
  if (verify == X509_V_OK) return {};
  if (!pinned_sha256_.empty() && pinned_sha256_ == cert_sha256_) return {};
  std::string reason = X509_verify_cert_error_string(verify);
  return sotto::fail(Errc::certificate,
                     "the SIP server's certificate is not trusted for " + server_name_ + " (" +
                         reason + "); its SHA-256 fingerprint is " +
                         format_fingerprint(cert_sha256_) +
                         ". Trust it only if you can confirm that fingerprint with the "
                         "server's admin.",
                     cert_sha256_);
}

void Stream::start_reading() { read_loop(); }

void Stream::read_loop() {
  if (closed_) return;
  auto self = shared_from_this();
  auto on_read = [self](std::error_code ec, std::size_t n) {
    if (self->closed_) return;
    if (ec) {
      self->fail(Error{Errc::network, describe(ec), {}});
      return;
    }
    self->on_bytes(std::string_view(self->buffer_.data(), n));
    self->read_loop();
  };
  if (tls_active_)
    tls_stream_->async_read_some(asio::buffer(buffer_), on_read);
  else
    socket_.async_read_some(asio::buffer(buffer_), on_read);
}

void Stream::on_bytes(std::string_view bytes) {
  inbox_.append(bytes);
  auto self = shared_from_this();  // a handler may close us
  std::size_t used = 0;
  while (!closed_ && used < inbox_.size()) {
    auto frame = wire::next_frame(std::string_view(inbox_).substr(used));
    if (frame.kind == wire::Frame::Kind::incomplete) break;
    if (frame.kind == wire::Frame::Kind::error) {
      log::info(kLog, "closing a connection after bad framing: " + frame.error);
      fail(Error{Errc::protocol, frame.error, {}});
      return;
    }
    std::string_view data = std::string_view(inbox_).substr(used, frame.size);
    used += frame.size;
    if (frame.size == 0) break;  // defensive: never loop without progress
    switch (frame.kind) {
      case wire::Frame::Kind::ping:
        write("\r\n");
        break;
      case wire::Frame::Kind::pong:
        if (handler_.on_pong) handler_.on_pong();
        break;
      case wire::Frame::Kind::message:
        if (handler_.on_message) handler_.on_message(std::string(data));
        break;
      default:
        break;
    }
  }
  if (!closed_) inbox_.erase(0, used);
}

void Stream::write(std::string bytes) {
  if (closed_) return;
  // A peer that sends (pings, requests) but never reads must not make us
  // buffer without end.
  if (queued_bytes_ + bytes.size() > kMaxQueuedBytes) {
    log::info(kLog, "closing a connection whose peer does not read");
    fail(Error{Errc::network, "the other side does not read what is sent", {}});
    return;
  }
  queued_bytes_ += bytes.size();
  queue_.push_back(std::move(bytes));
  write_next();
}

void Stream::write_next() {
  if (closed_ || writing_ || !ready_ || queue_.empty()) return;
  writing_ = true;
  auto self = shared_from_this();
  auto on_write = [self](std::error_code ec, std::size_t) {
    self->writing_ = false;
    if (self->closed_) return;
    if (ec) {
      self->fail(Error{Errc::network, describe(ec), {}});
      return;
    }
    self->queued_bytes_ -= self->queue_.front().size();
    self->queue_.pop_front();
    self->write_next();
  };
  if (tls_active_)
    asio::async_write(*tls_stream_, asio::buffer(queue_.front()), on_write);
  else
    asio::async_write(socket_, asio::buffer(queue_.front()), on_write);
}

void Stream::close() {
  if (closed_) return;
  closed_ = true;
  std::error_code ignored;
  deadline_.cancel();
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

void Stream::fail(Error error) {
  if (closed_) return;
  auto handler = handler_.on_closed;
  close();
  if (handler) handler(error);
}

}  // namespace sotto::sip
