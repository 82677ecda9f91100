#include "sotto/xmpp/connection.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace sotto::xmpp {
namespace {

constexpr std::string_view kLog = "xmpp.conn";

std::string describe(const std::error_code& ec) {
  if (ec == asio::error::connection_refused) return "the server refused the connection";
  if (ec == asio::error::host_not_found || ec == asio::error::host_not_found_try_again)
    return "the server's name could not be found";
  if (ec == asio::error::network_unreachable || ec == asio::error::host_unreachable)
    return "the server cannot be reached";
  if (ec == asio::error::connection_reset) return "the server reset the connection";
  if (ec == asio::error::eof) return "the server closed the connection";
  return ec.message();
}

std::string leaf_sha256(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return {};
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  X509_digest(cert, EVP_sha256(), digest, &length);
  X509_free(cert);
  return to_hex(std::string_view(reinterpret_cast<const char*>(digest), length));
}

}  // namespace

Connection::Connection(asio::any_io_executor executor, std::string domain, ServerSettings settings,
                       Handler handler)
    : executor_(executor),
      domain_(std::move(domain)),
      settings_(std::move(settings)),
      handler_(std::move(handler)),
      resolver_(executor),
      socket_(executor),
      ssl_context_(asio::ssl::context::tls_client),
      deadline_(executor) {
  ssl_context_.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                           asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                           asio::ssl::context::no_tlsv1_1 | asio::ssl::context::no_compression);
  std::error_code ignored;
  ssl_context_.set_default_verify_paths(ignored);
  // The handshake always completes; verify_peer() then decides, so that a
  // refusal can name the certificate's fingerprint (and honour a pin).
  ssl_context_.set_verify_mode(asio::ssl::verify_none);
}

Connection::~Connection() { abort(); }

void Connection::start() {
  if (!settings_.host.empty()) {
    uint16_t port = settings_.port != 0 ? settings_.port : (settings_.direct_tls ? 5223 : 5222);
    endpoints_ = {ServerEndpoint{settings_.host, port, settings_.direct_tls}};
    try_endpoint(0);
    return;
  }
  srv_resolver_ = std::make_unique<SrvResolver>(executor_);
  resolving_srv_ = true;
  arm_deadline();
  auto self = shared_from_this();
  srv_resolver_->resolve(domain_, [self](std::vector<ServerEndpoint> endpoints) {
    if (self->closed_) return;
    self->resolving_srv_ = false;
    self->disarm_deadline();
    self->endpoints_ = std::move(endpoints);
    self->try_endpoint(0);
  });
}

void Connection::try_endpoint(std::size_t index) {
  if (closed_) return;
  if (index >= endpoints_.size()) {
    fail(last_error_.value_or(Error{Errc::network, "no server found for " + domain_, {}}));
    return;
  }
  const ServerEndpoint endpoint = endpoints_[index];
  auto self = shared_from_this();
  auto next = [self, index](Error error) {
    log::info(kLog, error.message);
    self->last_error_ = std::move(error);
    std::error_code ignored;
    self->socket_.close(ignored);
    self->tls_.reset();
    self->tls_active_ = false;
    self->try_endpoint(index + 1);
  };
  arm_deadline();
  resolver_.async_resolve(
      endpoint.host, std::to_string(endpoint.port),
      [self, endpoint, next](std::error_code ec, asio::ip::tcp::resolver::results_type results) {
        if (self->closed_) return;
        if (ec) {
          self->disarm_deadline();
          next(Error{self->timed_out_ ? Errc::timeout : Errc::network,
                     self->timed_out_ ? "looking up " + endpoint.host + " took too long"
                                      : endpoint.host + ": " + describe(ec),
                     {}});
          return;
        }
        asio::async_connect(
            self->socket_, results,
            [self, endpoint, next](std::error_code ec, const asio::ip::tcp::endpoint&) {
              if (self->closed_) return;
              if (ec) {
                self->disarm_deadline();
                next(Error{self->timed_out_ ? Errc::timeout : Errc::network,
                           self->timed_out_ ? "connecting to " + endpoint.host + " took too long"
                                            : endpoint.host + ": " + describe(ec),
                           {}});
                return;
              }
              std::error_code ignored;
              self->socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
              if (!endpoint.direct_tls) {
                self->disarm_deadline();
                self->ready_ = true;
                self->handler_.on_connected();
                self->read_loop();
                return;
              }
              self->handshake([self] {
                self->ready_ = true;
                self->handler_.on_connected();
                self->read_loop();
                self->write_next();
              });
            });
      });
}

void Connection::start_tls() {
  // Called from within on_data (after <proceed/>): no read is outstanding,
  // read_loop() does not re-arm while handshaking_.
  handshaking_ = true;
  auto self = shared_from_this();
  handshake([self] {
    self->handler_.on_tls_ready();
    self->read_loop();
    self->write_next();
  });
}

void Connection::handshake(std::function<void()> done) {
  handshaking_ = true;
  tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, ssl_context_);
  SSL* ssl = tls_->native_handle();
  if (SSL_set_tlsext_host_name(ssl, domain_.c_str()) != 1 ||
      SSL_set1_host(ssl, domain_.c_str()) != 1) {
    // Without the name check a valid certificate for any name would pass.
    fail(Error{Errc::tls, "could not set up the TLS name check for " + domain_, {}});
    return;
  }
  arm_deadline();
  auto self = shared_from_this();
  tls_->async_handshake(asio::ssl::stream_base::client, [self, done](std::error_code ec) {
    if (self->closed_) return;
    self->disarm_deadline();
    self->handshaking_ = false;
    if (ec) {
      self->fail(Error{self->timed_out_ ? Errc::timeout : Errc::tls,
                       self->timed_out_ ? "the TLS handshake with the server took too long"
                                        : "the TLS handshake failed: " + ec.message(),
                       {}});
      return;
    }
    self->tls_active_ = true;
    if (auto verified = self->verify_peer(); !verified) {
      self->fail(verified.error());
      return;
    }
    done();
  });
}

Result<void> Connection::verify_peer() {
  SSL* ssl = tls_->native_handle();
  cert_sha256_ = leaf_sha256(ssl);
  if (cert_sha256_.empty()) return sotto::fail(Errc::certificate, "the server sent no certificate");
  long verify = SSL_get_verify_result(ssl);
  if (verify == X509_V_OK) return {};
  if (!settings_.pinned_sha256.empty() && settings_.pinned_sha256 == cert_sha256_) {
    log::info(kLog, "accepting the pinned certificate");
    return {};
  }
  std::string reason = X509_verify_cert_error_string(verify);
  return sotto::fail(
      Errc::certificate,
      "the server's certificate is not trusted for " + domain_ + " (" + reason +
          "); its SHA-256 fingerprint is " + format_fingerprint(cert_sha256_) +
          ". Trust it only if you can confirm that fingerprint with the server's admin.",
      cert_sha256_);
}

ChannelBindingType Connection::channel_binding_type() const {
  if (!tls_active_ || !tls_) return ChannelBindingType::none;
  SSL* ssl = tls_->native_handle();
  // RFC 9266: tls-exporter for TLS 1.3; tls-unique (RFC 5929) for TLS 1.2,
  // where Prosody and most servers still expect it.
  return SSL_version(ssl) >= TLS1_3_VERSION ? ChannelBindingType::tls_exporter
                                            : ChannelBindingType::tls_unique;
}

std::string Connection::channel_binding_data() const {
  if (!tls_active_ || !tls_) return {};
  SSL* ssl = tls_->native_handle();
  if (channel_binding_type() == ChannelBindingType::tls_exporter) {
    static constexpr char kLabel[] = "EXPORTER-Channel-Binding";
    unsigned char out[32];
    if (SSL_export_keying_material(ssl, out, sizeof out, kLabel, sizeof kLabel - 1, nullptr, 0,
                                   0) != 1)
      return {};
    return std::string(reinterpret_cast<char*>(out), sizeof out);
  }
  unsigned char finished[EVP_MAX_MD_SIZE];
  std::size_t length = SSL_get_finished(ssl, finished, sizeof finished);
  return std::string(reinterpret_cast<char*>(finished), length);
}

void Connection::read_loop() {
  if (closed_ || reading_ || handshaking_) return;
  reading_ = true;
  auto self = shared_from_this();
  auto on_read = [self](std::error_code ec, std::size_t n) {
    self->reading_ = false;
    if (self->closed_) return;
    if (ec) {
      self->fail(Error{Errc::network, describe(ec), {}});
      return;
    }
    self->handler_.on_data(std::string_view(self->read_buffer_.data(), n));
    self->read_loop();
  };
  if (tls_active_)
    tls_->async_read_some(asio::buffer(read_buffer_), on_read);
  else
    socket_.async_read_some(asio::buffer(read_buffer_), on_read);
}

void Connection::write(std::string bytes) {
  if (closed_) return;
  write_queue_.push_back(std::move(bytes));
  write_next();
}

void Connection::write_next() {
  if (closed_ || writing_ || handshaking_ || write_queue_.empty()) {
    if (!writing_ && write_queue_.empty() && close_after_flush_) abort();
    return;
  }
  writing_ = true;
  auto self = shared_from_this();
  auto on_write = [self](std::error_code ec, std::size_t) {
    self->writing_ = false;
    if (self->closed_) return;
    if (ec) {
      self->fail(Error{Errc::network, describe(ec), {}});
      return;
    }
    self->write_queue_.pop_front();
    self->write_next();
  };
  if (tls_active_)
    asio::async_write(*tls_, asio::buffer(write_queue_.front()), on_write);
  else
    asio::async_write(socket_, asio::buffer(write_queue_.front()), on_write);
}

void Connection::close() {
  if (closed_) return;
  if (handshaking_ || !ready_) {
    abort();  // nothing established to say goodbye on
    return;
  }
  close_after_flush_ = true;
  arm_deadline();
  write_next();
}

void Connection::abort() {
  if (closed_) return;
  closed_ = true;
  std::error_code ignored;
  deadline_.cancel();
  resolver_.cancel();
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  srv_resolver_.reset();
}

void Connection::arm_deadline() {
  timed_out_ = false;
  deadline_.expires_after(settings_.step_timeout);
  std::weak_ptr<Connection> weak = shared_from_this();
  deadline_.async_wait([weak](std::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->closed_) return;
    self->timed_out_ = true;
    if (self->resolving_srv_) {
      self->fail(Error{Errc::timeout, "looking up the server took too long", {}});
      return;
    }
    if (self->close_after_flush_) {
      self->abort();  // a goodbye that does not get out in time
      return;
    }
    // Closing (not just cancelling) also stops a ranged connect from moving
    // on to the next address without a deadline.
    std::error_code ignored;
    self->resolver_.cancel();
    self->socket_.close(ignored);
  });
}

void Connection::disarm_deadline() { deadline_.cancel(); }

void Connection::fail(Error error) {
  if (closed_) return;
  log::info(kLog, "connection failed: " + error.message);
  auto handler = handler_.on_error;
  abort();
  if (handler) handler(std::move(error));
}

}  // namespace sotto::xmpp
