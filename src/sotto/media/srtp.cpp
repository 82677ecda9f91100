// SRTP (RFC 3711) on libsrtp2 2.5: one srtp_t per direction, each with a
// template stream (ssrc_any_outbound / ssrc_any_inbound) so that the peer's
// SSRC need not be known in advance.
#include <srtp2/srtp.h>

#include <cstring>
#include <mutex>
#include <string>
#include <utility>

#include "sotto/media/zrtp.h"

namespace sotto::media {
namespace {

constexpr std::string_view kLog = "srtp";
constexpr std::size_t kSaltLength = 14;
constexpr std::size_t kRtpHeader = 12;
constexpr std::size_t kRtcpHeader = 8;
constexpr std::size_t kSrtcpIndex = 4;

void on_srtp_log(srtp_log_level_t level, const char* msg, void* /*data*/) {
  // libsrtp reports problems caused by packets off the network: never louder
  // than debug, so that hostile input cannot flood the terminal.
  if (level == srtp_log_level_error || level == srtp_log_level_warning) {
    log::debug(kLog, std::string("libsrtp: ") + (msg ? msg : ""));
  }
}

Result<void> init_library() {
  static std::once_flag once;
  static srtp_err_status_t status = srtp_err_status_ok;
  std::call_once(once, [] {
    status = srtp_init();
    if (status == srtp_err_status_ok) srtp_install_log_handler(on_srtp_log, nullptr);
  });
  if (status != srtp_err_status_ok) {
    return fail(Errc::io, "libsrtp could not start (error " + std::to_string(status) + ")");
  }
  return {};
}

std::size_t key_length(SrtpSuite suite) {
  switch (suite) {
    case SrtpSuite::aes256_sha1_80:
    case SrtpSuite::aes256_sha1_32:
      return 32;
    case SrtpSuite::aes128_sha1_80:
    case SrtpSuite::aes128_sha1_32:
      break;
  }
  return 16;
}

std::size_t rtp_tag_length(SrtpSuite suite) {
  return (suite == SrtpSuite::aes128_sha1_32 || suite == SrtpSuite::aes256_sha1_32) ? 4 : 10;
}
constexpr std::size_t kRtcpTagLength = 10;  // SRTCP always carries the 80-bit tag

// RTP with the suite's tag; RTCP always with the 80-bit tag: RFC 3711 §5.2
// and libsrtp's documentation advise against the 32-bit tag for RTCP, and
// mediastreamer2 (linphone) does the same for the _32 suites.
void set_policies(SrtpSuite suite, srtp_policy_t& policy) {
  switch (suite) {
    case SrtpSuite::aes128_sha1_80:
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
      break;
    case SrtpSuite::aes128_sha1_32:
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&policy.rtp);
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
      break;
    case SrtpSuite::aes256_sha1_80:
      srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&policy.rtp);
      srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&policy.rtcp);
      break;
    case SrtpSuite::aes256_sha1_32:
      srtp_crypto_policy_set_aes_cm_256_hmac_sha1_32(&policy.rtp);
      srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&policy.rtcp);
      break;
  }
}

Result<srtp_t> make_session(SrtpSuite suite, const SrtpKey& key, srtp_ssrc_type_t direction) {
  if (key.key.size() != key_length(suite) || key.salt.size() != kSaltLength) {
    return fail(Errc::invalid_argument,
                "SRTP key or salt has the wrong length for " + std::string(to_string(suite)));
  }
  std::vector<uint8_t> master(key.key);
  master.insert(master.end(), key.salt.begin(), key.salt.end());

  srtp_policy_t policy;
  std::memset(&policy, 0, sizeof policy);
  set_policies(suite, policy);
  policy.ssrc.type = direction;
  policy.ssrc.value = 0;
  policy.key = master.data();
  policy.window_size = 128;  // replay protection (RFC 3711 §3.3.2)
  policy.allow_repeat_tx = 0;
  policy.next = nullptr;

  srtp_t session = nullptr;
  const srtp_err_status_t status = srtp_create(&session, &policy);
  std::memset(master.data(), 0, master.size());
  if (status != srtp_err_status_ok) {
    return fail(Errc::invalid_argument,
                "libsrtp refused the SRTP policy (error " + std::to_string(status) + ")");
  }
  return session;
}

Result<void> map_unprotect_error(srtp_err_status_t status, std::string_view what) {
  switch (status) {
    case srtp_err_status_ok:
      return {};
    case srtp_err_status_auth_fail:
      return fail(Errc::auth, std::string(what) + " failed authentication");
    case srtp_err_status_replay_fail:
    case srtp_err_status_replay_old:
      return fail(Errc::protocol, std::string(what) + " is a replay");
    default:
      return fail(Errc::protocol,
                  std::string(what) + " is not valid SRTP (error " + std::to_string(status) + ")");
  }
}

}  // namespace

std::string_view to_string(SrtpSuite suite) {
  switch (suite) {
    case SrtpSuite::aes128_sha1_80:
      return "AES_CM_128_HMAC_SHA1_80";
    case SrtpSuite::aes128_sha1_32:
      return "AES_CM_128_HMAC_SHA1_32";
    case SrtpSuite::aes256_sha1_80:
      return "AES_CM_256_HMAC_SHA1_80";
    case SrtpSuite::aes256_sha1_32:
      return "AES_CM_256_HMAC_SHA1_32";
  }
  return "unknown";
}

struct Srtp::Impl {
  SrtpSuite suite = SrtpSuite::aes128_sha1_80;
  srtp_t send = nullptr;
  srtp_t receive = nullptr;

  ~Impl() {
    if (send) srtp_dealloc(send);
    if (receive) srtp_dealloc(receive);
  }
};

Result<Srtp> Srtp::create(SrtpSuite suite, const SrtpKey& send, const SrtpKey& receive) {
  if (auto ok = init_library(); !ok) return tl::make_unexpected(ok.error());
  auto impl = std::make_unique<Impl>();
  impl->suite = suite;
  auto out = make_session(suite, send, ssrc_any_outbound);
  if (!out) return tl::make_unexpected(out.error());
  impl->send = *out;
  auto in = make_session(suite, receive, ssrc_any_inbound);
  if (!in) return tl::make_unexpected(in.error());
  impl->receive = *in;
  return Srtp(std::move(impl));
}

Srtp::Srtp(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Srtp::Srtp(Srtp&&) noexcept = default;
Srtp& Srtp::operator=(Srtp&&) noexcept = default;
Srtp::~Srtp() = default;

Result<void> Srtp::protect_rtp(std::vector<uint8_t>& packet) {
  if (!impl_) return fail(Errc::invalid_argument, "SRTP context was moved from");
  if (packet.size() < kRtpHeader || packet.size() > 0xFFFF) {
    return fail(Errc::invalid_argument, "RTP packet has an impossible length");
  }
  int length = static_cast<int>(packet.size());
  packet.resize(packet.size() + SRTP_MAX_TRAILER_LEN);
  const srtp_err_status_t status = srtp_protect(impl_->send, packet.data(), &length);
  if (status != srtp_err_status_ok) {
    packet.resize(packet.size() - SRTP_MAX_TRAILER_LEN);
    return fail(Errc::protocol, "SRTP protect failed (error " + std::to_string(status) + ")");
  }
  packet.resize(static_cast<std::size_t>(length));
  return {};
}

Result<void> Srtp::protect_rtcp(std::vector<uint8_t>& packet) {
  if (!impl_) return fail(Errc::invalid_argument, "SRTP context was moved from");
  if (packet.size() < kRtcpHeader || packet.size() > 0xFFFF) {
    return fail(Errc::invalid_argument, "RTCP packet has an impossible length");
  }
  int length = static_cast<int>(packet.size());
  packet.resize(packet.size() + SRTP_MAX_TRAILER_LEN + kSrtcpIndex);
  const srtp_err_status_t status = srtp_protect_rtcp(impl_->send, packet.data(), &length);
  if (status != srtp_err_status_ok) {
    packet.resize(packet.size() - SRTP_MAX_TRAILER_LEN - kSrtcpIndex);
    return fail(Errc::protocol, "SRTCP protect failed (error " + std::to_string(status) + ")");
  }
  packet.resize(static_cast<std::size_t>(length));
  return {};
}

Result<void> Srtp::unprotect_rtp(std::vector<uint8_t>& packet) {
  if (!impl_) return fail(Errc::invalid_argument, "SRTP context was moved from");
  // The fixed header, then at least the tag; libsrtp checks CSRCs/extensions.
  if (packet.size() < kRtpHeader + rtp_tag_length(impl_->suite) || packet.size() > 0xFFFF ||
      (packet[0] >> 6) != 2) {
    return fail(Errc::protocol, "packet too short to be SRTP");
  }
  int length = static_cast<int>(packet.size());
  const srtp_err_status_t status = srtp_unprotect(impl_->receive, packet.data(), &length);
  if (auto ok = map_unprotect_error(status, "SRTP packet"); !ok) return ok;
  if (length < 0 || static_cast<std::size_t>(length) > packet.size()) {
    return fail(Errc::protocol, "SRTP packet has an impossible length");
  }
  packet.resize(static_cast<std::size_t>(length));
  return {};
}

Result<void> Srtp::unprotect_rtcp(std::vector<uint8_t>& packet) {
  if (!impl_) return fail(Errc::invalid_argument, "SRTP context was moved from");
  if (packet.size() < kRtcpHeader + kSrtcpIndex + kRtcpTagLength || packet.size() > 0xFFFF ||
      (packet[0] >> 6) != 2) {
    return fail(Errc::protocol, "packet too short to be SRTCP");
  }
  int length = static_cast<int>(packet.size());
  const srtp_err_status_t status = srtp_unprotect_rtcp(impl_->receive, packet.data(), &length);
  if (auto ok = map_unprotect_error(status, "SRTCP packet"); !ok) return ok;
  if (length < 0 || static_cast<std::size_t>(length) > packet.size()) {
    return fail(Errc::protocol, "SRTCP packet has an impossible length");
  }
  packet.resize(static_cast<std::size_t>(length));
  return {};
}

}  // namespace sotto::media
