// Private to sotto/media: one call's audio stream as a plain object.
//
// No sockets, no timers, no threads: datagrams come in through
// on_datagram(), time through tick() (every 20 ms of the caller's clock, a
// fake one in tests), and packets leave through the callbacks. Engine
// (engine.cpp) wraps it with UDP sockets and a timer on the media thread;
// tests wire two of them through a simulated link.
//
// Per tick: ZRTP retransmissions; capture 20 ms from the AudioPort, voice
// processing, encode, (S)RTP out when sending is allowed; pop the jitter
// buffer, decode or conceal, play; RTCP every 5 s (randomised 0.5-1.5);
// ZRTP deadlines (media.h). Telephone-events: an outgoing digit replaces
// audio for 100 ms (end packet sent three times); a received one is
// reported once per event.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sotto/media/audio.h"
#include "sotto/media/media.h"
#include "sotto/media/zrtp.h"

namespace sotto::media {

struct StreamSetup {
  ZrtpCache cache;  // db may be null
  std::string self_uri;
  std::string peer_uri;
  bool zrtp = true;                  // false: plain RTP only (tests of the plain path)
  std::unique_ptr<AudioPort> audio;  // required
  bool echo_cancellation = true;
  bool noise_suppression = true;
  std::string cname;  // RTCP CNAME; a random one when empty
};

class CallStream {
 public:
  struct Callbacks {
    std::function<void(std::vector<uint8_t>)> send_rtp;   // to the RTP port (also ZRTP)
    std::function<void(std::vector<uint8_t>)> send_rtcp;  // to the RTCP port
    std::function<void(const Security&)> security;        // on every change
    std::function<void(char)> dtmf;
  };

  [[nodiscard]] static Result<std::unique_ptr<CallStream>> create(StreamSetup setup,
                                                                  Callbacks callbacks);
  ~CallStream();
  CallStream(const CallStream&) = delete;
  CallStream& operator=(const CallStream&) = delete;

  std::string zrtp_hash() const;  // empty when zrtp is off
  uint32_t ssrc() const;

  // First call starts the stream (and ZRTP); later calls apply hold/resume,
  // codec or address changes (the caller re-targets its sockets).
  [[nodiscard]] Result<void> start(const StreamParams& params, int64_t now_us);
  // A datagram from the RTP (`rtcp` false) or RTCP port. Never throws; bad
  // input is counted in stats() and logged at debug.
  void on_datagram(std::span<const uint8_t> datagram, bool rtcp, int64_t now_us);
  // Every 20 ms. `wall_us`: wall clock for RTCP's NTP timestamps.
  void tick(int64_t now_us, int64_t wall_us);
  // RTCP BYE to send before closing (empty if never started).
  std::vector<uint8_t> bye();

  void set_sas_verified(bool verified);
  void set_mute(bool mute);
  void send_dtmf(const std::string& digits);

  const Security& security() const;
  CallStats stats() const;

  struct Impl;

 private:
  explicit CallStream(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sotto::media
