// Private to sotto/xmpp, for tests and fuzzers: a Client whose stream is
// driven by the caller instead of a socket. It logs in through a scripted
// server exchange (STARTTLS, PLAIN, bind, stream management), after which
// feed() delivers server bytes to the real Client code and take_written()
// returns what the Client wrote.
#pragma once

#include <string>
#include <string_view>

#include "sotto/xmpp/xmpp.h"

namespace sotto::xmpp::testing {

class OfflineClient {
 public:
  OfflineClient(asio::any_io_executor executor, ClientListener& listener,
                std::string_view jid = "alice@localhost");
  ~OfflineClient();

  // Server bytes, as if read from the socket.
  void feed(std::string_view bytes);
  // What the client wrote since the last call.
  std::string take_written();
  Client& client() { return client_; }
  bool online() const;

 private:
  Client client_;
  std::string written_;
};

}  // namespace sotto::xmpp::testing
