// Private to sotto/app: the UDP ports of one call, until there is media.
//
// Calls carry no audio yet (the media issue adds RTP, codecs and ZRTP). So
// that the SDP Sotto sends names ports that are really its own, each call
// binds a real RTP/RTCP pair (an even port and the next one) on the address
// its signalling uses, keeps it open for the call's lifetime and discards
// whatever arrives. This class does nothing else and pretends nothing else:
// the media engine takes its place and sends and receives audio on the ports.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <asio/any_io_executor.hpp>

#include "sotto/base/base.h"

namespace sotto::app {

class CallMedia {
 public:
  // Binds an even RTP port and RTCP on the next one on `address` (an IP
  // literal; empty: every interface).
  [[nodiscard]] static Result<std::unique_ptr<CallMedia>> open(asio::any_io_executor executor,
                                                               const std::string& address);
  ~CallMedia();
  CallMedia(const CallMedia&) = delete;
  CallMedia& operator=(const CallMedia&) = delete;

  uint16_t rtp_port() const { return rtp_port_; }
  uint16_t rtcp_port() const { return static_cast<uint16_t>(rtp_port_ + 1); }

  struct Sockets;  // opaque; shared with the pending reads

 private:
  CallMedia(std::shared_ptr<Sockets> sockets, uint16_t rtp_port);

  std::shared_ptr<Sockets> sockets_;
  uint16_t rtp_port_;
};

}  // namespace sotto::app
