#include "sotto/app/call_media.h"

#include <utility>

#include <asio/post.hpp>

namespace sotto::app {
namespace {

constexpr std::string_view kLog = "call";

}  // namespace

CallAudio::CallAudio(asio::any_io_executor core, std::function<void(Event)> emit)
    : core_(std::move(core)), emit_(std::move(emit)) {}

CallAudio::~CallAudio() { engine_.reset(); }

media::EngineOptions CallAudio::options() const {
  media::EngineOptions options;
  using Backend = media::AudioOptions::Backend;
  options.audio.backend = settings_.backend == "file"   ? Backend::file
                          : settings_.backend == "null" ? Backend::null
                                                        : Backend::pulse;
  if (!settings_.input_wav.empty()) options.audio.input_wav = settings_.input_wav;
  if (!settings_.output_wav.empty()) options.audio.output_wav = settings_.output_wav;
  options.audio.input_device = settings_.input_device;
  options.audio.output_device = settings_.output_device;
  options.echo_cancellation = settings_.echo_cancellation;
  options.noise_suppression = settings_.noise_suppression;
  return options;
}

void CallAudio::set_settings(const AudioSettings& settings) {
  settings_ = settings;
  if (engine_) engine_->set_options(options());
}

void CallAudio::set_zrtp_cache(std::optional<store::Database> cache) {
  if (engine_) {
    engine_->set_zrtp_cache(std::move(cache));
  } else {
    pending_cache_ = std::move(cache);
  }
}

Result<std::unique_ptr<CallAudio::Stream>> CallAudio::open(const std::string& local_address,
                                                           const std::string& self_uri,
                                                           const std::string& peer_uri,
                                                           Handlers handlers) {
  if (!engine_) {
    // The listener is called through `post`, on the core thread, and only
    // while this CallAudio lives.
    std::weak_ptr<int> alive = alive_;
    auto post = [core = core_, alive](std::function<void()> work) {
      asio::post(core, [alive, work = std::move(work)] {
        if (alive.lock()) work();
      });
    };
    engine_ = media::Engine::create(options(), *this, std::move(post));
    if (pending_cache_) engine_->set_zrtp_cache(std::exchange(pending_cache_, std::nullopt));
  }
  auto opened = engine_->open(local_address, self_uri, peer_uri);
  if (!opened) return tl::unexpected(opened.error());
  handlers_[opened->id] = std::move(handlers);
  return std::unique_ptr<Stream>(new Stream(*this, *opened));
}

void CallAudio::close(media::Engine::StreamId id) {
  handlers_.erase(id);
  if (engine_) engine_->close(id);
}

CallAudio::Stream::~Stream() { owner_.close(opened_.id); }

void CallAudio::Stream::start(const media::StreamParams& params) {
  owner_.engine_->start(opened_.id, params);
}
void CallAudio::Stream::set_sas_verified(bool verified) {
  owner_.engine_->set_sas_verified(opened_.id, verified);
}
void CallAudio::Stream::set_mute(bool on) { owner_.engine_->set_mute(opened_.id, on); }
void CallAudio::Stream::send_dtmf(const std::string& digits) {
  owner_.engine_->send_dtmf(opened_.id, digits);
}

void CallAudio::on_security(media::Engine::StreamId id, const media::Security& security) {
  dispatch(id, &Handlers::security, security);
}

void CallAudio::on_stats(media::Engine::StreamId id, const media::CallStats& stats) {
  dispatch(id, &Handlers::stats, stats);
}

void CallAudio::on_dtmf(media::Engine::StreamId id, char digit) {
  dispatch(id, &Handlers::dtmf, digit);
}

void CallAudio::on_audio_event(const std::string& text) {
  log::info(kLog, text);
  emit_(AudioDeviceEvent{text});
}

media::StreamParams stream_params(const sdp::Negotiated& negotiated, bool require_encryption) {
  media::StreamParams params;
  params.codec = negotiated.codec;
  params.telephone_event_type = negotiated.telephone_event_type;
  params.remote_address = negotiated.remote_address;
  params.remote_port = negotiated.remote_port;
  params.remote_rtcp_port = negotiated.remote_rtcp_port;
  params.direction = negotiated.direction;
  params.peer_zrtp_hash = negotiated.remote_zrtp_hash;
  params.require_encryption = require_encryption;
  return params;
}

}  // namespace sotto::app
