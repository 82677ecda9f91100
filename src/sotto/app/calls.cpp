// Engine: what calls need beyond signalling: ZRTP verification, mute, phone
// keys, "require encryption" and the audio devices (docs/calls.md).
#include <nlohmann/json.hpp>

#include "sotto/app/engine_impl.h"
#include "sotto/media/media.h"
#include "sotto/store/profile.h"

namespace sotto::app {
namespace {

constexpr std::string_view kLog = "call";
constexpr const char* kRequireSetting = "calls.require_encryption";
constexpr const char* kAudioSetting = "calls.audio";

std::string audio_json(const AudioSettings& s) {
  // The WAV paths belong to the process that set them (tests, headless use).
  return nlohmann::json{{"backend", s.backend == "file" ? "pulse" : s.backend},
                        {"input_device", s.input_device},
                        {"output_device", s.output_device},
                        {"echo_cancellation", s.echo_cancellation},
                        {"noise_suppression", s.noise_suppression}}
      .dump();
}

void read_audio_json(const std::string& text, AudioSettings& s) {
  auto json = nlohmann::json::parse(text, nullptr, false);
  if (!json.is_object()) return;
  s.backend = json.value("backend", s.backend);
  s.input_device = json.value("input_device", s.input_device);
  s.output_device = json.value("output_device", s.output_device);
  s.echo_cancellation = json.value("echo_cancellation", s.echo_cancellation);
  s.noise_suppression = json.value("noise_suppression", s.noise_suppression);
}

}  // namespace

std::string_view to_string(CallEncryption encryption) {
  switch (encryption) {
    case CallEncryption::negotiating:
      return "negotiating";
    case CallEncryption::secure:
      return "secure";
    case CallEncryption::none:
      return "none";
    case CallEncryption::failed:
      return "failed";
  }
  return "?";
}

Result<void> Engine::Impl::load_call_settings() {
  auto require = profile->setting(kRequireSetting);
  if (!require) return tl::unexpected(require.error());
  audio->set_require_encryption(*require && **require == "1");
  auto stored = profile->setting(kAudioSetting);
  if (!stored) return tl::unexpected(stored.error());
  if (*stored) {
    AudioSettings settings = audio->settings();
    // A backend chosen for this process (the file backend of a test) stays.
    const bool keep_backend = settings.backend == "file";
    const std::string backend = settings.backend;
    read_audio_json(**stored, settings);
    if (keep_backend) settings.backend = backend;
    audio->set_settings(settings);
  }
  // The ZRTP cache: retained secrets and confirmed SAS, encrypted like the
  // rest of the profile.
  auto cache = profile->open_companion(store::kZrtpCacheFile);
  if (!cache) {
    log::warn(kLog, "the ZRTP cache could not be opened; calls stay unverified: " +
                        cache.error().message);
    return {};
  }
  audio->set_zrtp_cache(std::move(*cache));
  return {};
}

void Engine::Impl::close_call_settings() { audio->set_zrtp_cache(std::nullopt); }

Result<void> Engine::confirm_sas(const std::string& id, bool verified) {
  auto telephony = impl_->telephony_with(id);
  if (!telephony) return tl::unexpected(telephony.error());
  return (*telephony)->confirm_sas(id, verified);
}

Result<void> Engine::mute_call(const std::string& id, bool on) {
  auto telephony = impl_->telephony_with(id);
  if (!telephony) return tl::unexpected(telephony.error());
  return (*telephony)->mute(id, on);
}

Result<void> Engine::send_dtmf(const std::string& id, const std::string& digits) {
  auto telephony = impl_->telephony_with(id);
  if (!telephony) return tl::unexpected(telephony.error());
  return (*telephony)->send_dtmf(id, digits);
}

bool Engine::require_call_encryption() const { return impl_->audio->require_encryption(); }

Result<void> Engine::set_require_call_encryption(bool on) {
  if (auto ok = impl_->require_unlocked(); !ok) return ok;
  if (auto saved = impl_->profile->set_setting(kRequireSetting, on ? "1" : "0"); !saved) {
    return saved;
  }
  impl_->audio->set_require_encryption(on);
  return {};
}

AudioSettings Engine::audio_settings() const { return impl_->audio->settings(); }

Result<void> Engine::set_audio_settings(AudioSettings settings) {
  if (settings.backend != "pulse" && settings.backend != "file" && settings.backend != "null") {
    return fail(Errc::invalid_argument,
                "\"" + settings.backend + "\" is not an audio backend (pulse, file or null)");
  }
  if (settings.backend != "file" && (!settings.input_wav.empty() || !settings.output_wav.empty())) {
    return fail(Errc::invalid_argument, "WAV files are for the file backend only");
  }
  if (impl_->profile && impl_->profile->is_open()) {
    if (auto saved = impl_->profile->set_setting(kAudioSetting, audio_json(settings)); !saved) {
      return saved;
    }
  }
  impl_->audio->set_settings(settings);
  return {};
}

std::vector<AudioDevice> Engine::audio_devices() const {
  std::vector<AudioDevice> out;
  for (const media::AudioDeviceInfo& device : media::list_audio_devices()) {
    out.push_back(AudioDevice{device.name, device.description, device.input});
  }
  return out;
}

}  // namespace sotto::app
