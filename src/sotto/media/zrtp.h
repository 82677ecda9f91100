// Private to sotto/media: SRTP (libsrtp2) and ZRTP (bzrtp 5.1, RFC 6189).
// No I/O: packets go out through a callback, time comes from the caller.
// bzrtp is confined to the thread that drives a ZrtpChannel.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sotto/base/base.h"

struct sqlite3;

namespace sotto::media {

// --- SRTP

enum class SrtpSuite {
  aes128_sha1_80,  // AES_CM_128_HMAC_SHA1_80 (ZRTP AES1 + HS80)
  aes128_sha1_32,  // AES_CM_128_HMAC_SHA1_32 (AES1 + HS32)
  aes256_sha1_80,  // AES_CM_256_HMAC_SHA1_80 (AES3 + HS80)
  aes256_sha1_32,  // AES_CM_256_HMAC_SHA1_32 (AES3 + HS32)
};
std::string_view to_string(SrtpSuite suite);  // "AES_CM_128_HMAC_SHA1_80", ...

// One direction's master key and salt: 16 or 32 key bytes + 14 salt bytes.
struct SrtpKey {
  std::vector<uint8_t> key;
  std::vector<uint8_t> salt;
};

// Both directions of one stream (RTP and RTCP). Move-only.
class Srtp {
 public:
  [[nodiscard]] static Result<Srtp> create(SrtpSuite suite, const SrtpKey& send,
                                           const SrtpKey& receive);
  Srtp(Srtp&&) noexcept;
  Srtp& operator=(Srtp&&) noexcept;
  ~Srtp();

  // In place; the packet grows by the tag (and the SRTCP index).
  [[nodiscard]] Result<void> protect_rtp(std::vector<uint8_t>& packet);
  [[nodiscard]] Result<void> protect_rtcp(std::vector<uint8_t>& packet);
  // In place. Errors (the packet is to be dropped): Errc::auth for a failed
  // tag, Errc::protocol for a replay or a packet too short to be SRTP.
  [[nodiscard]] Result<void> unprotect_rtp(std::vector<uint8_t>& packet);
  [[nodiscard]] Result<void> unprotect_rtcp(std::vector<uint8_t>& packet);

 private:
  struct Impl;
  explicit Srtp(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// --- ZRTP

// The ZID cache: bzrtp's tables in an sqlite3 database the owner opened (on
// the encrypted profile VFS in Sotto; ":memory:" in tests). The pointer must
// outlive every channel using it and be used from the channel's thread only.
struct ZrtpCache {
  sqlite3* db = nullptr;
};

// What the cache says about a peer URI (bzrtp_cache_getPeerStatus_lock).
enum class PeerTrust { unknown, verified, rejected };
PeerTrust peer_trust(const ZrtpCache& cache, const std::string& peer_uri);

struct ZrtpSecured {
  std::string sas;        // 4 characters, base32 (B32)
  bool verified = false;  // the SAS was confirmed in an earlier call
  // bzrtp's cacheMismatch: the peer's ZID is known but the retained secret
  // does not match (RFC 6189 §4.3.2): a possible man in the middle.
  bool cache_mismatch = false;
  // The peer URI was verified before (PeerTrust::verified when the channel
  // started), this call is not verified, and the peer came with a ZID the
  // cache did not know for it: a new device, a reinstall, or a man in the
  // middle that does not claim the old ZID. (A known device whose user did
  // not confirm the code is unverified but not flagged.)
  bool was_verified_before = false;
  SrtpSuite suite = SrtpSuite::aes128_sha1_80;
  std::string key_agreement;  // "X255", "DH3k"
  std::string cipher;         // "AES1", "AES3"
  std::string auth_tag;       // "HS80", "HS32"
  SrtpKey send;               // our outgoing SRTP master key/salt
  SrtpKey receive;
};

struct ZrtpConfig {
  ZrtpCache cache;       // db may be null: no cache (every call unverified)
  std::string self_uri;  // "alice@example.org"
  std::string peer_uri;  // "bob@example.org"
  uint32_t ssrc = 0;     // our RTP SSRC (ZRTP packets carry it)
  // Offered key agreements in order of preference (bzrtp may append its
  // mandatory ones). Default: X25519 then DH3k.
  std::vector<std::string> key_agreements = {"X255", "DH3k"};
};

class ZrtpChannel {
 public:
  struct Callbacks {
    // A ZRTP packet to send on the RTP port, as is.
    std::function<void(std::vector<uint8_t>)> send;
    // Keys agreed: SRTP can start, the SAS is to be shown.
    std::function<void(const ZrtpSecured&)> secured;
    // The handshake failed for good (bzrtp error, peer's Error packet,
    // hello hash mismatch seen by bzrtp): a reason for people.
    std::function<void(const std::string&)> failed;
  };

  [[nodiscard]] static Result<std::unique_ptr<ZrtpChannel>> create(ZrtpConfig config,
                                                                   Callbacks callbacks);
  ~ZrtpChannel();
  ZrtpChannel(const ZrtpChannel&) = delete;
  ZrtpChannel& operator=(const ZrtpChannel&) = delete;

  // Our Hello hash for a=zrtp-hash: "1.10 " + 64 hex digits.
  std::string hello_hash() const;
  // The peer's a=zrtp-hash, when SDP gave one; must be set before start().
  [[nodiscard]] Result<void> set_peer_hello_hash(const std::string& value);

  // Starts the handshake (the first Hello leaves on the next tick).
  void start(int64_t now_ms);
  // Drives retransmissions; call every 10-20 ms until secure (cheap after).
  void tick(int64_t now_ms);
  // A datagram classified as ZRTP. A bad CRC, a wrong length or a packet
  // bzrtp refuses: Errc::protocol (the caller counts and logs it).
  [[nodiscard]] Result<void> on_packet(std::span<const uint8_t> packet);

  bool secure() const;
  // True once start() ran and neither secured nor failed yet.
  bool negotiating() const;

  // The user compared the SAS with the peer: true confirms (bzrtp_SASVerified,
  // kept in the cache), false resets (bzrtp_resetSASVerified).
  void set_sas_verified(bool verified);

 private:
  struct Impl;
  explicit ZrtpChannel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sotto::media
