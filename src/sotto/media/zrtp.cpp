// ZRTP (RFC 6189) on bzrtp 5.1: one bzrtp context with one channel per call.
// bzrtp's callbacks only queue; what they queued (packets to send, the
// secured/failed reports) is delivered once bzrtp has returned, so that our
// callbacks may feed packets straight back into this or another channel.
#include <bzrtp/bzrtp.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <utility>

#include "sotto/media/zrtp.h"

namespace sotto::media {
namespace {

constexpr std::string_view kLog = "zrtp";

// RFC 6189 §5: 12-byte packet header, message (preamble, length in words,
// type, body), 4-byte CRC-32c (RFC 4960 appendix B) of all that precedes it.
constexpr std::size_t kHeaderLength = 12;
constexpr std::size_t kMinMessageLength = 12;  // preamble, length, type block
constexpr std::size_t kCrcLength = 4;
constexpr std::size_t kMaxPacket = 3072;  // a DH3k DHPart is ~470 bytes
constexpr uint32_t kMagicCookie = 0x5a525450;

uint32_t read32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// CRC-32c (Castagnoli), reflected, as in RFC 4960 appendix B.
uint32_t crc32c(std::span<const uint8_t> data) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  for (uint8_t byte : data) crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

std::optional<uint8_t> key_agreement_id(std::string_view name) {
  if (name == "DH2k") return ZRTP_KEYAGREEMENT_DH2k;
  if (name == "DH3k") return ZRTP_KEYAGREEMENT_DH3k;
  if (name == "X255") return ZRTP_KEYAGREEMENT_X255;
  if (name == "X448") return ZRTP_KEYAGREEMENT_X448;
  if (name == "EC25") return ZRTP_KEYAGREEMENT_EC25;
  if (name == "EC38") return ZRTP_KEYAGREEMENT_EC38;
  if (name == "EC52") return ZRTP_KEYAGREEMENT_EC52;
  return std::nullopt;
}

std::string key_agreement_name(uint8_t id) {
  switch (id) {
    case ZRTP_KEYAGREEMENT_DH2k:
      return "DH2k";
    case ZRTP_KEYAGREEMENT_DH3k:
      return "DH3k";
    case ZRTP_KEYAGREEMENT_X255:
      return "X255";
    case ZRTP_KEYAGREEMENT_X448:
      return "X448";
    case ZRTP_KEYAGREEMENT_EC25:
      return "EC25";
    case ZRTP_KEYAGREEMENT_EC38:
      return "EC38";
    case ZRTP_KEYAGREEMENT_EC52:
      return "EC52";
    case ZRTP_KEYAGREEMENT_Mult:
      return "Mult";
    case ZRTP_KEYAGREEMENT_Prsh:
      return "Prsh";
    default:
      return "unknown";
  }
}

// A well-formed ZRTP packet (not fragmented) with a correct CRC, or why not.
std::optional<std::string> check_packet(std::span<const uint8_t> packet) {
  if (packet.size() < kHeaderLength + kMinMessageLength + kCrcLength) return "too short";
  if (packet.size() > kMaxPacket) return "too long";
  if (packet[0] != 0x10 || packet[1] != 0x00) return "not a ZRTP packet header";
  if (read32(packet.data() + 4) != kMagicCookie) return "no ZRTP magic cookie";
  const uint8_t* message = packet.data() + kHeaderLength;
  if (message[0] != 0x50 || message[1] != 0x5a) return "no ZRTP message preamble";
  const std::size_t words = (std::size_t{message[2]} << 8) | message[3];
  if (kHeaderLength + words * 4 + kCrcLength != packet.size()) return "length field mismatch";
  const std::size_t body = packet.size() - kCrcLength;
  // Like SCTP's, the CRC goes on the wire least significant byte first.
  const uint8_t* crc = packet.data() + body;
  const uint32_t stored = uint32_t{crc[0]} | (uint32_t{crc[1]} << 8) | (uint32_t{crc[2]} << 16) |
                          (uint32_t{crc[3]} << 24);
  if (crc32c(packet.first(body)) != stored) return "bad CRC";
  return std::nullopt;
}

// The 8-character message type ("Hello   ", "Commit  ") of a checked packet.
std::string message_type(std::span<const uint8_t> packet) {
  std::string out;
  for (std::size_t i = kHeaderLength + 4; i < kHeaderLength + 12; ++i) {
    const char c = static_cast<char>(packet[i]);
    if (c == ' ') break;
    out += (c >= 'A' && c <= 'z') ? c : '?';
  }
  return out;
}

std::string hex16(int value) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (int shift = 12; shift >= 0; shift -= 4) out += digits[(value >> shift) & 0xF];
  return out;
}

}  // namespace

PeerTrust peer_trust(const ZrtpCache& cache, const std::string& peer_uri) {
  if (cache.db == nullptr || peer_uri.empty()) return PeerTrust::unknown;
  switch (bzrtp_cache_getPeerStatus_lock(cache.db, peer_uri.c_str(), nullptr)) {
    case BZRTP_CACHE_PEER_STATUS_VALID:
      return PeerTrust::verified;
    case BZRTP_CACHE_PEER_STATUS_INVALID:
      return PeerTrust::rejected;
    default:
      return PeerTrust::unknown;
  }
}

namespace {

// How many devices (ZIDs) of `peer_uri` the cache knows for `self_uri`:
// bzrtp adds a row to its ziduri table when a peer's Hello brings a ZID it
// has not seen for this pair of URIs. -1 when the cache cannot say.
int known_devices(sqlite3* db, const std::string& self_uri, const std::string& peer_uri) {
  if (db == nullptr) return -1;
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM ziduri WHERE selfuri = ?1 AND peeruri = ?2", -1,
                         &statement, nullptr) != SQLITE_OK) {
    sqlite3_finalize(statement);
    return -1;
  }
  sqlite3_bind_text(statement, 1, self_uri.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(statement, 2, peer_uri.c_str(), -1, SQLITE_TRANSIENT);
  const int count = sqlite3_step(statement) == SQLITE_ROW ? sqlite3_column_int(statement, 0) : -1;
  sqlite3_finalize(statement);
  return count;
}

}  // namespace

struct ZrtpChannel::Impl {
  ZrtpConfig config;
  Callbacks callbacks;
  bzrtpContext_t* context = nullptr;
  std::string self_hello_hash;
  bool verified_before = false;  // peer_trust() == verified at create()
  int devices_before = -1;       // known_devices() at create()
  bool started = false;
  bool is_secure = false;
  bool has_failed = false;
  bool cache_mismatch = false;

  // Queued by bzrtp's callbacks, delivered by flush().
  std::vector<std::vector<uint8_t>> outbox;
  std::optional<ZrtpSecured> pending_secured;
  std::optional<std::string> pending_failure;

  ~Impl() {
    if (context) bzrtp_destroyBzrtpContext(context, config.ssrc);
  }

  void fail_with(std::string reason) {
    if (has_failed || is_secure) return;
    has_failed = true;
    pending_failure = std::move(reason);
  }

  void check_status() {
    if (started && !is_secure && !has_failed &&
        bzrtp_getChannelStatus(context, config.ssrc) == BZRTP_CHANNEL_ERROR) {
      fail_with("the ZRTP handshake failed");
    }
  }

  // Delivers what bzrtp queued. Works on copies so that a callback may feed a
  // packet back into this channel (or, for the last one, destroy it).
  void flush() {
    while (!outbox.empty()) {
      auto packets = std::move(outbox);
      outbox.clear();
      auto send = callbacks.send;
      for (auto& packet : packets) {
        if (send) send(std::move(packet));
      }
    }
    if (pending_secured) {
      ZrtpSecured secured = std::move(*pending_secured);
      pending_secured.reset();
      auto report = callbacks.secured;
      if (report) report(secured);
      return;  // nothing may touch `this` after the last callback
    }
    if (pending_failure) {
      std::string reason = std::move(*pending_failure);
      pending_failure.reset();
      auto report = callbacks.failed;
      if (report) report(reason);
    }
  }

  // --- bzrtp callbacks

  static int on_send(void* data, const uint8_t* packet, uint16_t length) {
    auto* self = static_cast<Impl*>(data);
    self->outbox.emplace_back(packet, packet + length);
    return 0;
  }

  static int on_status(void* data, const uint8_t level, const uint8_t id, const char* text) {
    auto* self = static_cast<Impl*>(data);
    const std::string message = text ? text : "";
    if (level == BZRTP_MESSAGE_ERROR && id == BZRTP_MESSAGE_CACHEMISMATCH) {
      log::warn(kLog, "ZRTP cache mismatch: the peer's retained secret does not match");
      self->cache_mismatch = true;
    } else if (level == BZRTP_MESSAGE_ERROR) {
      log::debug(kLog, "bzrtp error " + std::to_string(id) + ": " + message);
      self->fail_with(message.empty() ? "the ZRTP handshake failed" : message);
    } else if (id == BZRTP_MESSAGE_PEERVERSIONOBSOLETE) {
      log::info(kLog, "peer's ZRTP version is obsolete");
    } else if (id == BZRTP_MESSAGE_PEERNOTBZRTP) {
      log::debug(kLog, "peer does not run bzrtp");
    } else if (!message.empty()) {
      log::debug(kLog, "bzrtp: " + message);
    }
    return 0;
  }

  static int on_secrets(void*, const bzrtpSrtpSecrets_t*, uint8_t) { return 0; }

  static int on_start_srtp(void* data, const bzrtpSrtpSecrets_t* secrets, int32_t verified) {
    auto* self = static_cast<Impl*>(data);
    if (self->is_secure || self->has_failed || secrets == nullptr) return 0;
    ZrtpSecured out;
    out.sas = secrets->sas ? std::string(secrets->sas) : std::string();
    out.verified = verified != 0;
    out.cache_mismatch = self->cache_mismatch || secrets->cacheMismatch != 0;
    // A contact verified before whose call is not verified now: a warning
    // only when the peer came with a device (ZID) the cache did not know. The
    // same device whose user simply has not confirmed the code (the verified
    // flag needs both sides) is not a change of keys; a known device with the
    // wrong retained secret is bzrtp's cache mismatch above.
    const int devices_now =
        known_devices(self->config.cache.db, self->config.self_uri, self->config.peer_uri);
    const bool new_device =
        self->devices_before < 0 || devices_now < 0 || devices_now > self->devices_before;
    out.was_verified_before = self->verified_before && !out.verified && new_device;
    out.key_agreement = key_agreement_name(secrets->keyAgreementAlgo);
    const bool aes256 = secrets->cipherAlgo == ZRTP_CIPHER_AES3;
    const bool tag32 = secrets->authTagAlgo == ZRTP_AUTHTAG_HS32;
    if ((secrets->cipherAlgo != ZRTP_CIPHER_AES1 && !aes256) ||
        (secrets->authTagAlgo != ZRTP_AUTHTAG_HS80 && !tag32)) {
      self->fail_with("ZRTP agreed on an SRTP suite we do not support");
      return 0;
    }
    out.cipher = aes256 ? "AES3" : "AES1";
    out.auth_tag = tag32 ? "HS32" : "HS80";
    out.suite = aes256 ? (tag32 ? SrtpSuite::aes256_sha1_32 : SrtpSuite::aes256_sha1_80)
                       : (tag32 ? SrtpSuite::aes128_sha1_32 : SrtpSuite::aes128_sha1_80);
    const std::size_t key_length = aes256 ? 32 : 16;
    if (secrets->selfSrtpKey == nullptr || secrets->peerSrtpKey == nullptr ||
        secrets->selfSrtpSalt == nullptr || secrets->peerSrtpSalt == nullptr ||
        secrets->selfSrtpKeyLength != key_length || secrets->peerSrtpKeyLength != key_length ||
        secrets->selfSrtpSaltLength != 14 || secrets->peerSrtpSaltLength != 14) {
      self->fail_with("ZRTP gave SRTP keys of an unexpected length");
      return 0;
    }
    out.send.key.assign(secrets->selfSrtpKey, secrets->selfSrtpKey + key_length);
    out.send.salt.assign(secrets->selfSrtpSalt, secrets->selfSrtpSalt + 14);
    out.receive.key.assign(secrets->peerSrtpKey, secrets->peerSrtpKey + key_length);
    out.receive.salt.assign(secrets->peerSrtpSalt, secrets->peerSrtpSalt + 14);
    log::info(kLog, "ZRTP secure: " + out.key_agreement + " " + out.cipher + " " + out.auth_tag +
                        (out.verified ? ", SAS verified before" : ", SAS not verified"));
    self->is_secure = true;
    self->pending_secured = std::move(out);
    return 0;
  }
};

Result<std::unique_ptr<ZrtpChannel>> ZrtpChannel::create(ZrtpConfig config, Callbacks callbacks) {
  std::vector<uint8_t> agreements;
  for (const auto& name : config.key_agreements) {
    auto id = key_agreement_id(name);
    if (!id) return fail(Errc::invalid_argument, "unknown ZRTP key agreement \"" + name + "\"");
    if (std::find(agreements.begin(), agreements.end(), *id) == agreements.end()) {
      agreements.push_back(*id);
    }
  }
  if (agreements.empty() || agreements.size() > 7) {
    return fail(Errc::invalid_argument, "ZRTP needs between 1 and 7 key agreements");
  }

  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
  impl->callbacks = std::move(callbacks);
  Impl& self = *impl;
  self.context = bzrtp_createBzrtpContext();
  if (self.context == nullptr) return fail(Errc::io, "bzrtp could not create a context");

  if (self.config.cache.db != nullptr) {
    self.verified_before =
        peer_trust(self.config.cache, self.config.peer_uri) == PeerTrust::verified;
    self.devices_before =
        known_devices(self.config.cache.db, self.config.self_uri, self.config.peer_uri);
    const int rc = bzrtp_setZIDCache(self.context, self.config.cache.db,
                                     self.config.self_uri.c_str(), self.config.peer_uri.c_str());
    if (rc != 0 && rc != BZRTP_CACHE_SETUP && rc != BZRTP_CACHE_UPDATE) {
      return fail(Errc::io,
                  "the ZRTP cache could not be opened (bzrtp error " + std::to_string(rc) + ")");
    }
  }

  bzrtpCallbacks_t cbs;
  std::memset(&cbs, 0, sizeof cbs);
  cbs.bzrtp_statusMessage = &Impl::on_status;
  cbs.bzrtp_messageLevel = BZRTP_MESSAGE_WARNING;
  cbs.bzrtp_sendData = &Impl::on_send;
  cbs.bzrtp_srtpSecretsAvailable = &Impl::on_secrets;
  cbs.bzrtp_startSrtpSession = &Impl::on_start_srtp;
  if (bzrtp_setCallbacks(self.context, &cbs) != 0) {
    return fail(Errc::io, "bzrtp refused its callbacks");
  }

  std::array<uint8_t, 7> types{};
  std::copy(agreements.begin(), agreements.end(), types.begin());
  bzrtp_setSupportedCryptoTypes(self.context, ZRTP_KEYAGREEMENT_TYPE, types.data(),
                                static_cast<uint8_t>(agreements.size()));
  types = {ZRTP_CIPHER_AES1, ZRTP_CIPHER_AES3};
  bzrtp_setSupportedCryptoTypes(self.context, ZRTP_CIPHERBLOCK_TYPE, types.data(), 2);
  types = {ZRTP_AUTHTAG_HS80, ZRTP_AUTHTAG_HS32};
  bzrtp_setSupportedCryptoTypes(self.context, ZRTP_AUTHTAG_TYPE, types.data(), 2);
  types = {ZRTP_HASH_S256};
  bzrtp_setSupportedCryptoTypes(self.context, ZRTP_HASH_TYPE, types.data(), 1);
  types = {ZRTP_SAS_B32};
  bzrtp_setSupportedCryptoTypes(self.context, ZRTP_SAS_TYPE, types.data(), 1);

  if (const int rc = bzrtp_initBzrtpContext(self.context, self.config.ssrc); rc != 0) {
    return fail(Errc::io, "bzrtp could not start (error " + std::to_string(rc) + ")");
  }
  if (bzrtp_setClientData(self.context, self.config.ssrc, &self) != 0) {
    return fail(Errc::io, "bzrtp could not find its channel");
  }
  std::array<uint8_t, 80> hash{};
  if (bzrtp_getSelfHelloHash(self.context, self.config.ssrc, hash.data(), hash.size()) != 0) {
    return fail(Errc::io, "bzrtp gave no Hello hash");
  }
  self.self_hello_hash.assign(reinterpret_cast<const char*>(hash.data()),
                              strnlen(reinterpret_cast<const char*>(hash.data()), hash.size()));
  return std::unique_ptr<ZrtpChannel>(new ZrtpChannel(std::move(impl)));
}

ZrtpChannel::ZrtpChannel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ZrtpChannel::~ZrtpChannel() = default;

std::string ZrtpChannel::hello_hash() const { return impl_->self_hello_hash; }

Result<void> ZrtpChannel::set_peer_hello_hash(const std::string& value) {
  // "1.10 " (any version) followed by 64 hex digits.
  const std::size_t space = value.find(' ');
  const std::string_view hex =
      space == std::string::npos ? std::string_view() : std::string_view(value).substr(space + 1);
  const bool hex_ok =
      hex.size() == 64 && std::all_of(hex.begin(), hex.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
      });
  if (space == std::string::npos || space == 0 || space > 8 || !hex_ok) {
    return fail(Errc::invalid_argument, "a=zrtp-hash is not a ZRTP Hello hash");
  }
  std::vector<uint8_t> text(value.begin(), value.end());
  text.push_back(0);
  const int rc =
      bzrtp_setPeerHelloHash(impl_->context, impl_->config.ssrc, text.data(), value.size());
  impl_->flush();
  if (rc != 0) {
    return fail(Errc::protocol, "the peer's Hello does not match a=zrtp-hash",
                "hello-hash-mismatch");
  }
  return {};
}

void ZrtpChannel::start(int64_t now_ms) {
  Impl& self = *impl_;
  if (self.started) return;
  self.started = true;
  const int rc = bzrtp_startChannelEngine(self.context, self.config.ssrc);
  if (rc != 0) self.fail_with("ZRTP could not start (bzrtp error " + std::to_string(rc) + ")");
  (void)now_ms;  // the first Hello leaves on the next tick
  self.flush();
}

void ZrtpChannel::tick(int64_t now_ms) {
  Impl& self = *impl_;
  if (!self.started || self.has_failed) return;
  bzrtp_iterate(self.context, self.config.ssrc,
                static_cast<uint64_t>(std::max<int64_t>(now_ms, 0)));
  self.check_status();
  self.flush();
}

Result<void> ZrtpChannel::on_packet(std::span<const uint8_t> packet) {
  Impl& self = *impl_;
  if (auto problem = check_packet(packet)) {
    return fail(Errc::protocol, "ZRTP packet dropped: " + *problem);
  }
  if (!self.started || self.has_failed) {
    return fail(Errc::protocol, "ZRTP packet dropped: the channel is not negotiating");
  }
  std::vector<uint8_t> copy(packet.begin(), packet.end());
  const int rc = bzrtp_processMessage(self.context, self.config.ssrc, copy.data(),
                                      static_cast<uint16_t>(copy.size()));
  self.check_status();
  // Copy what the caller needs before flush(): a callback may destroy us.
  const bool mismatch = rc == BZRTP_ERROR_HELLOHASH_MISMATCH;
  self.flush();
  if (rc == 0) return {};
  if (mismatch) {
    return fail(Errc::protocol, "the peer's Hello does not match a=zrtp-hash",
                "hello-hash-mismatch");
  }
  return fail(Errc::protocol,
              "ZRTP " + message_type(packet) + " packet refused (bzrtp error 0x" + hex16(rc) + ")");
}

bool ZrtpChannel::secure() const { return impl_->is_secure; }

bool ZrtpChannel::negotiating() const {
  return impl_->started && !impl_->is_secure && !impl_->has_failed;
}

void ZrtpChannel::set_sas_verified(bool verified) {
  if (verified) {
    bzrtp_SASVerified(impl_->context);
  } else {
    bzrtp_resetSASVerified(impl_->context);
  }
  impl_->flush();
}

}  // namespace sotto::media
