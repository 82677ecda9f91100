// Private to sotto/xmpp: where to connect for an XMPP domain, from DNS SRV
// records (RFC 6120 §3.2, XEP-0368), without blocking the core thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <asio/any_io_executor.hpp>

namespace sotto::xmpp {

struct ServerEndpoint {
  std::string host;
  uint16_t port = 0;
  bool direct_tls = false;  // TLS from the first byte (XEP-0368), not STARTTLS

  friend bool operator==(const ServerEndpoint&, const ServerEndpoint&) = default;
};

// One SRV answer, as it came from DNS.
struct SrvRecord {
  uint16_t priority = 0;
  uint16_t weight = 0;
  uint16_t port = 0;
  std::string target;       // "." (or empty): the service is not offered
  bool direct_tls = false;  // from _xmpps-client rather than _xmpp-client
};

// Orders SRV records for connection attempts: priority ascending, and within
// one priority direct TLS first, then RFC 2782's weighted random selection.
// Records whose target is "." are dropped. rand_below(n) returns a uniform
// number in [0, n); tests pass a fixed sequence.
std::vector<ServerEndpoint> order_srv(std::vector<SrvRecord> records,
                                      std::function<uint32_t(uint32_t)> rand_below);

// Blocking. Looks up _xmpps-client._tcp.<domain> and _xmpp-client._tcp.<domain>
// at the same time (2 s timeout, 2 tries: a dead DNS server costs seconds) and
// orders the answers with order_srv. Without any SRV record, or for an IP
// literal, "localhost" or a name under ".invalid" (no query is sent for
// those), returns {domain, 5222, STARTTLS}. Empty when the _xmpp-client
// record says the service is not offered (target ".") and no direct TLS
// record offers it either.
std::vector<ServerEndpoint> lookup_xmpp_srv(std::string_view domain);

// Runs lookup_xmpp_srv on a worker thread and hands the result to `done` on
// `executor`. Destroying the resolver returns at once, even while a lookup is
// stuck in DNS, and `done` is then never called. Create, use and destroy it
// on the executor's thread (callbacks are also destroyed there).
class SrvResolver {
 public:
  explicit SrvResolver(asio::any_io_executor executor);
  ~SrvResolver();

  SrvResolver(const SrvResolver&) = delete;
  SrvResolver& operator=(const SrvResolver&) = delete;

  void resolve(std::string domain, std::function<void(std::vector<ServerEndpoint>)> done);

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace sotto::xmpp
