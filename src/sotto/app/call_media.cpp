#include "sotto/app/call_media.h"

#include <array>
#include <random>

#include <asio/ip/address.hpp>
#include <asio/ip/udp.hpp>

namespace sotto::app {
namespace {

constexpr std::string_view kLog = "call";
// Ports are picked at random from here (the range common RTP stacks use).
constexpr uint16_t kLowestPort = 16384;
constexpr uint16_t kHighestPort = 32766;
constexpr int kAttempts = 64;

}  // namespace

struct CallMedia::Sockets {
  asio::ip::udp::socket rtp;
  asio::ip::udp::socket rtcp;
  std::array<char, 2048> buffer{};
  asio::ip::udp::endpoint from;

  explicit Sockets(asio::any_io_executor executor) : rtp(executor), rtcp(executor) {}
};

namespace {

// Reads and drops datagrams until the socket is closed.
void discard(const std::shared_ptr<CallMedia::Sockets>& owner, asio::ip::udp::socket& socket);

}  // namespace

Result<std::unique_ptr<CallMedia>> CallMedia::open(asio::any_io_executor executor,
                                                   const std::string& address) {
  std::error_code ec;
  asio::ip::address ip = asio::ip::address_v4::any();
  if (!address.empty()) {
    ip = asio::ip::make_address(address, ec);
    if (ec) return fail(Errc::invalid_argument, "\"" + address + "\" is not an IP address");
  }
  std::random_device seed;
  std::mt19937 random(seed());
  std::uniform_int_distribution<int> pick(kLowestPort / 2, kHighestPort / 2);
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    const auto port = static_cast<uint16_t>(pick(random) * 2);
    auto sockets = std::make_shared<Sockets>(executor);
    const asio::ip::udp protocol = ip.is_v6() ? asio::ip::udp::v6() : asio::ip::udp::v4();
    sockets->rtp.open(protocol, ec);
    if (ec) return fail(Errc::io, "could not open a UDP socket for the call: " + ec.message());
    sockets->rtcp.open(protocol, ec);
    if (ec) return fail(Errc::io, "could not open a UDP socket for the call: " + ec.message());
    sockets->rtp.bind({ip, port}, ec);
    if (ec) continue;
    sockets->rtcp.bind({ip, static_cast<uint16_t>(port + 1)}, ec);
    if (ec) continue;
    discard(sockets, sockets->rtp);
    discard(sockets, sockets->rtcp);
    return std::unique_ptr<CallMedia>(new CallMedia(std::move(sockets), port));
  }
  return fail(Errc::io, "no free pair of UDP ports for the call's audio");
}

namespace {

void discard(const std::shared_ptr<CallMedia::Sockets>& owner, asio::ip::udp::socket& socket) {
  socket.async_receive_from(asio::buffer(owner->buffer), owner->from,
                            [owner, &socket](std::error_code ec, std::size_t) {
                              if (ec == asio::error::operation_aborted || !socket.is_open()) return;
                              if (ec) log::debug(kLog, "media port: " + ec.message());
                              discard(owner, socket);
                            });
}

}  // namespace

CallMedia::CallMedia(std::shared_ptr<Sockets> sockets, uint16_t rtp_port)
    : sockets_(std::move(sockets)), rtp_port_(rtp_port) {}

CallMedia::~CallMedia() {
  std::error_code ignored;
  sockets_->rtp.close(ignored);
  sockets_->rtcp.close(ignored);
}

}  // namespace sotto::app
