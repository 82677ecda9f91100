// Hostile server input against the whole account logic: the client logs in
// through a scripted exchange, then the fuzzer's bytes arrive as the stream
// (stanzas, stream management nonzas, roster pushes, carbons, archive results).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <asio/io_context.hpp>

#include "sotto/base/base.h"
#include "sotto/xmpp/testing.h"

namespace {

struct Sink : sotto::xmpp::ClientListener {
  void on_state(sotto::xmpp::ConnectionState, const std::optional<sotto::Error>&) override {}
  void on_roster(const std::vector<sotto::xmpp::RosterItem>&) override {}
  void on_roster_item(const sotto::xmpp::RosterItem&) override {}
  void on_roster_removed(const sotto::Jid&) override {}
  void on_presence(const sotto::xmpp::Presence&) override {}
  void on_subscription_request(const sotto::Jid&, const std::string&) override {}
  void on_subscription_denied(const sotto::Jid&) override {}
  void on_message(const sotto::xmpp::Message&) override {}
  void on_message_sent(const sotto::Jid&, const std::string&) override {}
  void on_message_delivered(const sotto::Jid&, const std::string&) override {}
  void on_message_error(const sotto::Jid&, const std::string&, const sotto::Error&) override {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  static bool quiet = (sotto::log::set_level(sotto::log::Level::off), true);
  (void)quiet;
  asio::io_context io;
  Sink sink;
  {
    sotto::xmpp::testing::OfflineClient client(io.get_executor(), sink);
    client.client().send_message(*sotto::Jid::parse("bob@localhost"), "queued");
    std::string_view input(reinterpret_cast<const char*>(data), size);
    // Split at the first byte's value so chunk boundaries are explored too.
    std::size_t split = size > 0 ? data[0] % (size + 1) : 0;
    client.feed(input.substr(0, split));
    client.feed(input.substr(split));
    io.poll();
    client.take_written();
  }
  io.poll();
  return 0;
}
