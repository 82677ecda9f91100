// sotto/media: the audio of calls, private with ZRTP and SRTP.
//
// media::Engine runs every call's RTP, RTCP and ZRTP on its own media thread
// (sockets, timers, bzrtp, libsrtp2, codecs, jitter buffers); sotto/app drives
// it from the core thread and hears back through Listener, posted to the
// owner's thread with the `post` function it gives. The per-call logic is
// CallStream (stream.h), a plain object driven by packets and ticks, so that
// tests run two of them over a simulated link with a fake clock.
//
// Security defaults (ARCHITECTURE.md): ZRTP on every call. Until ZRTP is
// secure no audio leaves in the clear and plain RTP that arrives is not
// played. When the peer shows no sign of ZRTP (no a=zrtp-hash in its SDP and
// no ZRTP packet within 3 s) or the handshake fails or stalls (15 s), the
// call is "not encrypted" and audio flows in plain RTP, unless encryption is
// required: then the stream reports failed and the app ends the call with
// the reason. Once secure, anything that does not authenticate is dropped
// quietly (counted, logged at debug).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sotto/base/base.h"
#include "sotto/media/audio.h"
#include "sotto/sdp/sdp.h"

namespace sotto::store {
class Database;
}

namespace sotto::media {

enum class Encryption {
  negotiating,  // ZRTP under way: no audio yet
  secure,       // SRTP with keys from ZRTP; see sas / sas_verified
  none,         // the peer does not do ZRTP or it failed; plain RTP (open padlock)
  failed,       // could not be secured and encryption is required: end the call
};
std::string_view to_string(Encryption encryption);

struct Security {
  Encryption state = Encryption::negotiating;
  std::string sas;            // 4 characters to read aloud, once secure
  bool sas_verified = false;  // confirmed now or in an earlier call
  // A possible man in the middle: the peer's retained secret did not match
  // (ZRTP cache mismatch), or this contact was verified before and this
  // call is not. The user must compare the SAS again.
  bool cache_mismatch = false;
  std::string cipher;  // "AES1 HS80 X255" once secure
  std::string reason;  // why `none` or `failed`, for people
  friend bool operator==(const Security&, const Security&) = default;
};

struct CallStats {
  std::string codec;  // "opus/48000", "PCMU/8000"
  uint64_t packets_sent = 0;
  uint64_t packets_received = 0;
  double loss = 0;  // 0..1, of what the peer sent us (cumulative)
  double jitter_ms = 0;
  std::optional<double> rtt_ms;
  double buffer_ms = 0;        // jitter buffer delay now
  uint64_t concealed = 0;      // frames made up for lost packets
  uint64_t dropped = 0;        // garbage, wrong SSRC, bad version, plain RTP when secure
  uint64_t auth_failures = 0;  // SRTP/SRTCP that failed authentication or replay
  uint64_t zrtp_rejected = 0;  // ZRTP packets refused (bad CRC, wrong hash, ...)
};

// What SDP negotiation decided for one audio stream.
struct StreamParams {
  sdp::Codec codec;  // the peer's payload type and name
  std::optional<int> telephone_event_type;
  std::string remote_address;  // IP literal
  uint16_t remote_port = 0;
  std::optional<uint16_t> remote_rtcp_port;             // default remote_port + 1
  sdp::Direction direction = sdp::Direction::sendrecv;  // ours
  std::optional<std::string> peer_zrtp_hash;            // a=zrtp-hash from the peer
  bool require_encryption = false;
};

struct EngineOptions {
  AudioOptions audio;
  bool echo_cancellation = true;
  bool noise_suppression = true;
};

class Engine {
 public:
  using StreamId = uint64_t;

  class Listener {
   public:
    virtual ~Listener() = default;
    virtual void on_security(StreamId id, const Security& security) = 0;
    // Every 2 s while the stream runs.
    virtual void on_stats(StreamId id, const CallStats& stats) = 0;
    // A DTMF digit the peer sent (RFC 4733).
    virtual void on_dtmf(StreamId id, char digit) = 0;
    // An audio device appeared, went away or failed.
    virtual void on_audio_event(const std::string& text) = 0;
  };

  // `post` runs a function on the owner's thread (the listener is called
  // there only). Starts the media thread.
  static std::unique_ptr<Engine> create(EngineOptions options, Listener& listener,
                                        std::function<void(std::function<void()>)> post);
  ~Engine();  // closes every stream, stops the thread
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Where ZRTP keeps retained secrets and verified SAS: an encrypted
  // database the engine owns from now on (bzrtp creates its tables), used on
  // the media thread only. nullopt closes it (the profile locks): later
  // calls are unverified until a cache is set again. Streams running keep
  // their state.
  void set_zrtp_cache(std::optional<store::Database> cache);
  // Devices and processing for calls that open from now on.
  void set_options(EngineOptions options);

  struct Opened {
    StreamId id = 0;
    uint16_t rtp_port = 0;  // RTCP on rtp_port + 1
    std::string zrtp_hash;  // our a=zrtp-hash
  };
  // Binds an even RTP port and the next for RTCP on `local_address` (an IP
  // literal; empty: every interface) and prepares ZRTP for `self_uri` and
  // `peer_uri` (user@domain). Waits for the media thread (well under 1 ms).
  [[nodiscard]] Result<Opened> open(const std::string& local_address, const std::string& self_uri,
                                    const std::string& peer_uri);
  // Starts sending and receiving once negotiated; again after a re-INVITE
  // (hold, resume, a new address or codec): ZRTP and SRTP carry on.
  void start(StreamId id, const StreamParams& params);
  void close(StreamId id);  // sends RTCP BYE, closes the ports

  void set_sas_verified(StreamId id, bool verified);
  void set_mute(StreamId id, bool mute);
  // '0'-'9', '*', '#', 'A'-'D'; others are ignored. Queued, 100 ms each.
  void send_dtmf(StreamId id, const std::string& digits);

  struct Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sotto::media
