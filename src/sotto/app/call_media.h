// Private to sotto/app: the calls' audio, between the providers and the
// media engine (sotto/media).
//
// One CallAudio per app::Engine. It starts the media engine (and its thread)
// with the first call, hands it the ZRTP cache while the profile is unlocked,
// and routes what the engine reports for each stream to the call it belongs
// to, on the core thread. A Stream closes its ports when destroyed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <asio/any_io_executor.hpp>

#include "sotto/app/app.h"
#include "sotto/media/media.h"
#include "sotto/store/store.h"

namespace sotto::app {

class CallAudio final : private media::Engine::Listener {
 public:
  struct Handlers {
    std::function<void(const media::Security&)> security;
    std::function<void(const media::CallStats&)> stats;
    std::function<void(char)> dtmf;
  };

  class Stream {
   public:
    ~Stream();
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;
    uint16_t rtp_port() const { return opened_.rtp_port; }
    const std::string& zrtp_hash() const { return opened_.zrtp_hash; }
    // After SDP offer/answer, and again after each re-INVITE.
    void start(const media::StreamParams& params);
    void set_sas_verified(bool verified);
    void set_mute(bool on);
    void send_dtmf(const std::string& digits);

   private:
    friend class CallAudio;
    Stream(CallAudio& owner, media::Engine::Opened opened) : owner_(owner), opened_(opened) {}
    CallAudio& owner_;
    media::Engine::Opened opened_;
  };

  // `emit` gets AudioDeviceEvent.
  CallAudio(asio::any_io_executor core, std::function<void(Event)> emit);
  ~CallAudio() override;
  CallAudio(const CallAudio&) = delete;
  CallAudio& operator=(const CallAudio&) = delete;

  // Binds the ports of a new call on `local_address` and prepares ZRTP.
  [[nodiscard]] Result<std::unique_ptr<Stream>> open(const std::string& local_address,
                                                     const std::string& self_uri,
                                                     const std::string& peer_uri,
                                                     Handlers handlers);

  // The profile unlocked (a cache) or locked (nullopt).
  void set_zrtp_cache(std::optional<store::Database> cache);
  void set_settings(const AudioSettings& settings);
  const AudioSettings& settings() const { return settings_; }
  bool require_encryption() const { return require_encryption_; }
  void set_require_encryption(bool on) { require_encryption_ = on; }

 private:
  void on_security(media::Engine::StreamId id, const media::Security& security) override;
  void on_stats(media::Engine::StreamId id, const media::CallStats& stats) override;
  void on_dtmf(media::Engine::StreamId id, char digit) override;
  void on_audio_event(const std::string& text) override;
  media::EngineOptions options() const;
  void close(media::Engine::StreamId id);
  // Calls the stream's handler `member` with `value`, if the stream is still
  // open. The handler may end the call, which closes the stream and erases
  // its handlers: a copy is called.
  template <class Member, class Value>
  void dispatch(media::Engine::StreamId id, Member member, const Value& value) {
    auto it = handlers_.find(id);
    if (it == handlers_.end() || !(it->second.*member)) return;
    auto handler = it->second.*member;
    handler(value);
  }

  asio::any_io_executor core_;
  std::function<void(Event)> emit_;
  AudioSettings settings_;
  bool require_encryption_ = false;
  std::optional<store::Database> pending_cache_;  // until the engine starts
  std::map<media::Engine::StreamId, Handlers> handlers_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  std::unique_ptr<media::Engine> engine_;  // last: stopped first
};

// The media engine's view of a negotiated SDP.
media::StreamParams stream_params(const sdp::Negotiated& negotiated, bool require_encryption);

}  // namespace sotto::app
