// sotto::media SRTP (libsrtp2) and ZRTP (bzrtp): two channels in one process
// wired through their send callbacks, time from a fake millisecond clock.
#include <sqlite3.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sotto/media/zrtp.h"

namespace sotto::media {
namespace {

using Bytes = std::vector<uint8_t>;

// An RTP packet: V=2, PT 0, the given sequence number, SSRC, payload.
Bytes rtp_packet(uint16_t seq, uint32_t ssrc, std::size_t payload = 160) {
  Bytes packet = {0x80,
                  0x00,
                  static_cast<uint8_t>(seq >> 8),
                  static_cast<uint8_t>(seq),
                  0,
                  0,
                  0x03,
                  0x20,
                  static_cast<uint8_t>(ssrc >> 24),
                  static_cast<uint8_t>(ssrc >> 16),
                  static_cast<uint8_t>(ssrc >> 8),
                  static_cast<uint8_t>(ssrc)};
  for (std::size_t i = 0; i < payload; ++i) packet.push_back(static_cast<uint8_t>(i * 7 + seq));
  return packet;
}

// An RTCP receiver report without blocks (8 bytes) from `ssrc`.
Bytes rtcp_packet(uint32_t ssrc) {
  return {0x80,
          201,
          0,
          1,
          static_cast<uint8_t>(ssrc >> 24),
          static_cast<uint8_t>(ssrc >> 16),
          static_cast<uint8_t>(ssrc >> 8),
          static_cast<uint8_t>(ssrc)};
}

SrtpKey make_key(std::size_t key_length, uint8_t seed) {
  SrtpKey key;
  for (std::size_t i = 0; i < key_length; ++i) key.key.push_back(static_cast<uint8_t>(seed + i));
  for (std::size_t i = 0; i < 14; ++i) key.salt.push_back(static_cast<uint8_t>(seed * 3 + i));
  return key;
}

std::size_t key_length(SrtpSuite suite) {
  return suite == SrtpSuite::aes256_sha1_80 || suite == SrtpSuite::aes256_sha1_32 ? 32 : 16;
}

std::size_t tag_length(SrtpSuite suite) {
  return suite == SrtpSuite::aes128_sha1_32 || suite == SrtpSuite::aes256_sha1_32 ? 4 : 10;
}

constexpr SrtpSuite kSuites[] = {SrtpSuite::aes128_sha1_80, SrtpSuite::aes128_sha1_32,
                                 SrtpSuite::aes256_sha1_80, SrtpSuite::aes256_sha1_32};

// One sqlite3 ZID cache, as the profile would hold it.
struct Cache {
  Cache() { EXPECT_EQ(sqlite3_open(":memory:", &db), SQLITE_OK); }
  ~Cache() { sqlite3_close(db); }
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;
  ZrtpCache get() const { return ZrtpCache{db}; }
  sqlite3* db = nullptr;
};

// One end of a call.
struct Side {
  std::unique_ptr<ZrtpChannel> channel;
  std::deque<Bytes> inbox;  // packets the other side sent us
  std::optional<ZrtpSecured> secured;
  std::optional<std::string> failed;
  std::vector<Error> rejected;  // on_packet errors
};

// Two channels; packets travel through queues (a tiny network), optionally
// altered by `tamper` (from A to B when a_to_b).
struct Call {
  Side a;
  Side b;
  int64_t now = 1'000'000;
  // Returns the packets to deliver instead of `packet`.
  std::function<std::vector<Bytes>(bool a_to_b, Bytes packet)> tamper;

  Call(ZrtpConfig config_a, ZrtpConfig config_b) {
    a.channel = make(std::move(config_a), a, b, true);
    b.channel = make(std::move(config_b), b, a, false);
  }

  std::unique_ptr<ZrtpChannel> make(ZrtpConfig config, Side& self, Side& other, bool a_to_b) {
    ZrtpChannel::Callbacks callbacks;
    callbacks.send = [this, &other, a_to_b](Bytes packet) {
      if (tamper) {
        for (auto& out : tamper(a_to_b, std::move(packet))) other.inbox.push_back(std::move(out));
      } else {
        other.inbox.push_back(std::move(packet));
      }
    };
    callbacks.secured = [&self](const ZrtpSecured& secured) { self.secured = secured; };
    callbacks.failed = [&self](const std::string& reason) { self.failed = reason; };
    auto channel = ZrtpChannel::create(std::move(config), std::move(callbacks));
    EXPECT_TRUE(channel) << channel.error().message;
    return channel ? std::move(*channel) : nullptr;
  }

  void start() {
    a.channel->start(now);
    b.channel->start(now);
  }

  static void deliver(Side& side) {
    while (!side.inbox.empty()) {
      Bytes packet = std::move(side.inbox.front());
      side.inbox.pop_front();
      if (auto ok = side.channel->on_packet(packet); !ok) side.rejected.push_back(ok.error());
    }
  }

  // Runs the clock in 10 ms steps until both are secure (or one failed), or
  // `limit_ms` of simulated time passed. True when both are secure.
  bool run(int64_t limit_ms = 20'000) {
    const int64_t deadline = now + limit_ms;
    while (now < deadline) {
      a.channel->tick(now);
      b.channel->tick(now);
      deliver(a);
      deliver(b);
      if ((a.secured && b.secured) || a.failed || b.failed) break;
      now += 10;
    }
    return a.secured.has_value() && b.secured.has_value();
  }

  // Why run() stopped, for failure messages.
  std::string describe() const {
    std::string out;
    for (const Side* side : {&a, &b}) {
      out += side == &a ? "A:" : " B:";
      if (side->failed) out += " failed (" + *side->failed + ")";
      out += side->secured ? " secure" : " not secure";
      for (const auto& error : side->rejected) out += "; rejected: " + error.message;
    }
    return out;
  }
};

ZrtpConfig config(std::string self, std::string peer, uint32_t ssrc, ZrtpCache cache = {}) {
  ZrtpConfig out;
  out.cache = cache;
  out.self_uri = std::move(self);
  out.peer_uri = std::move(peer);
  out.ssrc = ssrc;
  return out;
}

ZrtpConfig alice(ZrtpCache cache = {}) {
  return config("alice@example.org", "bob@example.org", 0x1111, cache);
}
ZrtpConfig bob(ZrtpCache cache = {}) {
  return config("bob@example.org", "alice@example.org", 0x2222, cache);
}

// One secured call between two fresh contexts with the given caches.
std::pair<ZrtpSecured, ZrtpSecured> secured_call(ZrtpConfig a, ZrtpConfig b) {
  Call call(std::move(a), std::move(b));
  call.start();
  EXPECT_TRUE(call.run()) << call.describe();
  EXPECT_FALSE(call.a.failed);
  EXPECT_FALSE(call.b.failed);
  if (!call.a.secured || !call.b.secured) return {};
  return {*call.a.secured, *call.b.secured};
}

// --- SRTP

TEST(MediaSrtp, EachSuiteRoundTripsRtpAndRtcp) {
  for (SrtpSuite suite : kSuites) {
    SCOPED_TRACE(std::string(to_string(suite)));
    const SrtpKey a_to_b = make_key(key_length(suite), 1);
    const SrtpKey b_to_a = make_key(key_length(suite), 101);
    auto a = Srtp::create(suite, a_to_b, b_to_a);
    auto b = Srtp::create(suite, b_to_a, a_to_b);
    ASSERT_TRUE(a) << a.error().message;
    ASSERT_TRUE(b) << b.error().message;

    for (uint16_t seq = 100; seq < 105; ++seq) {
      const Bytes plain = rtp_packet(seq, 0xA1A1A1A1);
      Bytes packet = plain;
      ASSERT_TRUE(a->protect_rtp(packet));
      EXPECT_EQ(packet.size(), plain.size() + tag_length(suite));
      EXPECT_NE(Bytes(packet.begin() + 12, packet.begin() + 172),
                Bytes(plain.begin() + 12, plain.end()))
          << "the payload is encrypted";
      ASSERT_TRUE(b->unprotect_rtp(packet));
      EXPECT_EQ(packet, plain);
    }
    // And the other way.
    const Bytes plain = rtp_packet(7, 0xB2B2B2B2);
    Bytes packet = plain;
    ASSERT_TRUE(b->protect_rtp(packet));
    ASSERT_TRUE(a->unprotect_rtp(packet));
    EXPECT_EQ(packet, plain);

    // SRTCP: E flag + index (4 bytes) and always the 80-bit tag.
    const Bytes report = rtcp_packet(0xA1A1A1A1);
    Bytes secured_report = report;
    ASSERT_TRUE(a->protect_rtcp(secured_report));
    EXPECT_EQ(secured_report.size(), report.size() + 4 + 10);
    ASSERT_TRUE(b->unprotect_rtcp(secured_report));
    EXPECT_EQ(secured_report, report);
  }
}

TEST(MediaSrtp, TamperedReplayedAndTruncatedPacketsAreRefused) {
  for (SrtpSuite suite : kSuites) {
    SCOPED_TRACE(std::string(to_string(suite)));
    const SrtpKey k1 = make_key(key_length(suite), 5);
    const SrtpKey k2 = make_key(key_length(suite), 55);
    auto a = Srtp::create(suite, k1, k2);
    auto b = Srtp::create(suite, k2, k1);
    ASSERT_TRUE(a && b);

    Bytes first = rtp_packet(1, 0x01020304);
    ASSERT_TRUE(a->protect_rtp(first));
    Bytes tampered = first;
    tampered[40] ^= 0x01;
    auto result = b->unprotect_rtp(tampered);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, Errc::auth);

    // The forged packet did not burn the sequence number: the real one passes.
    Bytes copy = first;
    ASSERT_TRUE(b->unprotect_rtp(copy));
    copy = first;
    result = b->unprotect_rtp(copy);
    ASSERT_FALSE(result) << "a replay";
    EXPECT_EQ(result.error().code, Errc::protocol);

    for (std::size_t length : {0, 1, 11, 12, 13}) {
      Bytes truncated(first.begin(), first.begin() + static_cast<long>(length));
      result = b->unprotect_rtp(truncated);
      ASSERT_FALSE(result) << length;
      EXPECT_TRUE(result.error().code == Errc::protocol || result.error().code == Errc::auth);
    }
    Bytes cut = rtp_packet(2, 0x01020304);
    ASSERT_TRUE(a->protect_rtp(cut));
    cut.pop_back();
    EXPECT_FALSE(b->unprotect_rtp(cut));

    // RTCP: tamper, replay, truncate.
    Bytes report = rtcp_packet(0x01020304);
    ASSERT_TRUE(a->protect_rtcp(report));
    Bytes bad = report;
    bad[5] ^= 0x80;
    result = b->unprotect_rtcp(bad);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, Errc::auth);
    Bytes good = report;
    ASSERT_TRUE(b->unprotect_rtcp(good));
    good = report;
    result = b->unprotect_rtcp(good);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, Errc::protocol);
    Bytes short_report(report.begin(), report.begin() + 10);
    result = b->unprotect_rtcp(short_report);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, Errc::protocol);

    // The stream still works after all that.
    Bytes next = rtp_packet(3, 0x01020304);
    const Bytes plain = next;
    ASSERT_TRUE(a->protect_rtp(next));
    ASSERT_TRUE(b->unprotect_rtp(next));
    EXPECT_EQ(next, plain);
  }
}

TEST(MediaSrtp, WrongKeyLengthIsRefused) {
  auto srtp = Srtp::create(SrtpSuite::aes256_sha1_80, make_key(16, 1), make_key(32, 2));
  ASSERT_FALSE(srtp);
  EXPECT_EQ(srtp.error().code, Errc::invalid_argument);
}

TEST(MediaSrtp, SuiteNames) {
  EXPECT_EQ(to_string(SrtpSuite::aes128_sha1_80), "AES_CM_128_HMAC_SHA1_80");
  EXPECT_EQ(to_string(SrtpSuite::aes256_sha1_32), "AES_CM_256_HMAC_SHA1_32");
}

// --- ZRTP

TEST(MediaZrtp, HandshakeGivesTheSameSasAndCrossedKeys) {
  Call call(alice(), bob());
  EXPECT_FALSE(call.a.channel->negotiating());
  call.start();
  EXPECT_TRUE(call.a.channel->negotiating());
  ASSERT_TRUE(call.run()) << call.describe();
  const ZrtpSecured& a = *call.a.secured;
  const ZrtpSecured& b = *call.b.secured;
  EXPECT_TRUE(call.a.channel->secure());
  EXPECT_TRUE(call.b.channel->secure());
  EXPECT_FALSE(call.a.channel->negotiating());
  EXPECT_FALSE(call.a.failed);
  EXPECT_FALSE(call.b.failed);
  // A late retransmission (a Hello after the Commit) may be refused: the
  // caller counts it; it does not disturb the call.
  for (const Side* side : {&call.a, &call.b}) {
    for (const Error& error : side->rejected) EXPECT_EQ(error.code, Errc::protocol);
  }

  EXPECT_EQ(a.sas.size(), 4u);
  EXPECT_EQ(a.sas, b.sas);
  EXPECT_FALSE(a.verified);
  EXPECT_FALSE(a.cache_mismatch);
  EXPECT_FALSE(a.was_verified_before);
  EXPECT_EQ(a.key_agreement, "X255");
  EXPECT_EQ(a.suite, b.suite);
  EXPECT_EQ(a.cipher, b.cipher);
  EXPECT_EQ(a.auth_tag, b.auth_tag);
  EXPECT_EQ(a.send.key, b.receive.key);
  EXPECT_EQ(a.send.salt, b.receive.salt);
  EXPECT_EQ(a.receive.key, b.send.key);
  EXPECT_EQ(a.receive.salt, b.send.salt);
  EXPECT_NE(a.send.key, a.receive.key);

  // The keys carry voice both ways.
  auto srtp_a = Srtp::create(a.suite, a.send, a.receive);
  auto srtp_b = Srtp::create(b.suite, b.send, b.receive);
  ASSERT_TRUE(srtp_a && srtp_b);
  const Bytes plain = rtp_packet(1, 0x1111);
  Bytes packet = plain;
  ASSERT_TRUE(srtp_a->protect_rtp(packet));
  ASSERT_TRUE(srtp_b->unprotect_rtp(packet));
  EXPECT_EQ(packet, plain);
  Bytes back = rtp_packet(9, 0x2222);
  ASSERT_TRUE(srtp_b->protect_rtp(back));
  ASSERT_TRUE(srtp_a->unprotect_rtp(back));
}

TEST(MediaZrtp, EachKeyAgreementIsNegotiatedWhenAsked) {
  for (std::string agreement : {"X255", "DH3k"}) {
    SCOPED_TRACE(agreement);
    ZrtpConfig a = alice();
    ZrtpConfig b = bob();
    a.key_agreements = {agreement};
    b.key_agreements = {agreement};
    auto [sa, sb] = secured_call(std::move(a), std::move(b));
    EXPECT_EQ(sa.key_agreement, agreement);
    EXPECT_EQ(sb.key_agreement, agreement);
    EXPECT_EQ(sa.sas, sb.sas);
  }
  // The first choice of the side that commits, whatever the order.
  ZrtpConfig a = alice();
  ZrtpConfig b = bob();
  a.key_agreements = {"DH3k", "X255"};
  b.key_agreements = {"DH3k", "X255"};
  auto [sa, sb] = secured_call(std::move(a), std::move(b));
  EXPECT_EQ(sa.key_agreement, "DH3k");
}

TEST(MediaZrtp, UnknownKeyAgreementIsRefused) {
  ZrtpConfig a = alice();
  a.key_agreements = {"RSA1"};
  auto channel = ZrtpChannel::create(std::move(a), {});
  ASSERT_FALSE(channel);
  EXPECT_EQ(channel.error().code, Errc::invalid_argument);
}

TEST(MediaZrtp, HelloHashIsVersionAndSha256Hex) {
  auto channel = ZrtpChannel::create(alice(), {});
  ASSERT_TRUE(channel);
  const std::string hash = (*channel)->hello_hash();
  ASSERT_EQ(hash.size(), 69u) << hash;
  EXPECT_EQ(hash.substr(0, 5), "1.10 ");
  EXPECT_TRUE(std::all_of(hash.begin() + 5, hash.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  })) << hash;
  EXPECT_FALSE((*channel)->set_peer_hello_hash("1.10 xyz"));
  EXPECT_FALSE((*channel)->set_peer_hello_hash(""));
}

TEST(MediaZrtp, MatchingHelloHashesSecure) {
  Call call(alice(), bob());
  ASSERT_TRUE(call.a.channel->set_peer_hello_hash(call.b.channel->hello_hash()));
  ASSERT_TRUE(call.b.channel->set_peer_hello_hash(call.a.channel->hello_hash()));
  call.start();
  ASSERT_TRUE(call.run()) << call.describe();
  EXPECT_EQ(call.a.secured->sas, call.b.secured->sas);
}

TEST(MediaZrtp, WrongPeerHelloHashNeverSecures) {
  Call call(alice(), bob());
  std::string wrong = call.a.channel->hello_hash();
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  ASSERT_TRUE(call.b.channel->set_peer_hello_hash(wrong));
  call.start();
  // The caller's own ZRTP deadline (here 10 s of simulated time) ends it.
  EXPECT_FALSE(call.run(10'000));
  EXPECT_FALSE(call.b.secured);
  EXPECT_FALSE(call.b.channel->secure());
  EXPECT_TRUE(call.b.channel->negotiating());
  ASSERT_FALSE(call.b.rejected.empty());
  EXPECT_EQ(call.b.rejected.front().code, Errc::protocol);
  EXPECT_EQ(call.b.rejected.front().detail, "hello-hash-mismatch");
}

TEST(MediaZrtp, CorruptPacketsAreDroppedAndTheHandshakeRecovers) {
  Call call(alice(), bob());
  int altered = 0;
  call.tamper = [&altered](bool, Bytes packet) -> std::vector<Bytes> {
    // Every third of the first dozen packets either way arrives with a
    // flipped CRC byte, truncated, or with a flipped body byte.
    ++altered;
    if (altered > 12 || altered % 3 != 0) return {packet};
    Bytes crc = packet;
    crc.back() ^= 0x01;
    Bytes cut(packet.begin(), packet.end() - 5);
    Bytes body = packet;
    body[20] ^= 0x40;  // inside the message type: the CRC no longer matches
    return {crc, cut, body};
  };
  call.start();
  ASSERT_TRUE(call.run()) << call.describe();
  EXPECT_EQ(call.a.secured->sas, call.b.secured->sas);
  EXPECT_EQ(call.a.secured->send.key, call.b.secured->receive.key);
  const std::size_t rejected = call.a.rejected.size() + call.b.rejected.size();
  EXPECT_GE(rejected, 12u);
  for (const Side* side : {&call.a, &call.b}) {
    for (const Error& error : side->rejected) EXPECT_EQ(error.code, Errc::protocol);
  }
}

TEST(MediaZrtp, GarbageIsRefusedWithoutHarm) {
  Call call(alice(), bob());
  const Bytes empty;
  EXPECT_FALSE(call.a.channel->on_packet(empty));
  EXPECT_FALSE(call.a.channel->on_packet(rtp_packet(1, 2)));
  call.start();
  Bytes junk(100, 0xFF);
  EXPECT_FALSE(call.a.channel->on_packet(junk));
  ASSERT_TRUE(call.run()) << call.describe();
}

TEST(MediaZrtp, ConfirmedSasMakesTheNextCallVerifiedAndResetUndoesIt) {
  Cache cache_a;
  Cache cache_b;
  EXPECT_EQ(peer_trust(cache_a.get(), "bob@example.org"), PeerTrust::unknown);
  {
    Call call(alice(cache_a.get()), bob(cache_b.get()));
    call.start();
    ASSERT_TRUE(call.run()) << call.describe();
    EXPECT_FALSE(call.a.secured->verified);
    EXPECT_FALSE(call.b.secured->verified);
    call.a.channel->set_sas_verified(true);
    call.b.channel->set_sas_verified(true);
  }
  EXPECT_EQ(peer_trust(cache_a.get(), "bob@example.org"), PeerTrust::verified);
  EXPECT_EQ(peer_trust(cache_b.get(), "alice@example.org"), PeerTrust::verified);
  EXPECT_EQ(peer_trust(cache_a.get(), "carol@example.org"), PeerTrust::unknown);
  {
    Call call(alice(cache_a.get()), bob(cache_b.get()));
    call.start();
    ASSERT_TRUE(call.run()) << call.describe();
    EXPECT_TRUE(call.a.secured->verified);
    EXPECT_TRUE(call.b.secured->verified);
    EXPECT_FALSE(call.a.secured->was_verified_before);
    EXPECT_FALSE(call.a.secured->cache_mismatch);
    EXPECT_EQ(call.a.secured->sas, call.b.secured->sas);
    call.a.channel->set_sas_verified(false);
    call.b.channel->set_sas_verified(false);
  }
  EXPECT_NE(peer_trust(cache_a.get(), "bob@example.org"), PeerTrust::verified);
  {
    Call call(alice(cache_a.get()), bob(cache_b.get()));
    call.start();
    ASSERT_TRUE(call.run()) << call.describe();
    EXPECT_FALSE(call.a.secured->verified);
    EXPECT_FALSE(call.b.secured->verified);
  }
}

TEST(MediaZrtp, NewDeviceForAVerifiedContactIsFlagged) {
  Cache cache_a;
  {
    Cache cache_b;
    Call call(alice(cache_a.get()), bob(cache_b.get()));
    call.start();
    ASSERT_TRUE(call.run()) << call.describe();
    call.a.channel->set_sas_verified(true);
    call.b.channel->set_sas_verified(true);
  }
  ASSERT_EQ(peer_trust(cache_a.get(), "bob@example.org"), PeerTrust::verified);
  // Someone else (a new ZID, an empty cache) answers as bob.
  Cache cache_c;
  Call call(alice(cache_a.get()), bob(cache_c.get()));
  call.start();
  ASSERT_TRUE(call.run()) << call.describe();
  EXPECT_FALSE(call.a.secured->verified);
  EXPECT_TRUE(call.a.secured->was_verified_before);
  EXPECT_FALSE(call.a.secured->cache_mismatch);
  EXPECT_FALSE(call.b.secured->was_verified_before);
}

// Only alice confirmed the code: the next call is unverified on both sides
// (ZRTP's verified flag needs both), but it is the same bob with the same
// retained secret, so alice is not told that the keys changed.
TEST(MediaZrtp, AContactWhoDidNotConfirmIsUnverifiedButNotFlagged) {
  Cache cache_a;
  Cache cache_b;
  {
    Call call(alice(cache_a.get()), bob(cache_b.get()));
    call.start();
    ASSERT_TRUE(call.run()) << call.describe();
    call.a.channel->set_sas_verified(true);
  }
  ASSERT_EQ(peer_trust(cache_a.get(), "bob@example.org"), PeerTrust::verified);
  Call call(alice(cache_a.get()), bob(cache_b.get()));
  call.start();
  ASSERT_TRUE(call.run()) << call.describe();
  EXPECT_FALSE(call.a.secured->verified);
  EXPECT_FALSE(call.a.secured->was_verified_before);
  EXPECT_FALSE(call.a.secured->cache_mismatch);
}

TEST(MediaZrtp, StaleRetainedSecretIsACacheMismatch) {
  // Bob restores an old copy of his cache (same ZID, an outdated retained
  // secret): RFC 6189 §4.3.2 says to warn, as a man in the middle would look
  // the same.
  Cache cache_a;
  Cache cache_b;
  Cache old_b;
  ASSERT_TRUE(secured_call(alice(cache_a.get()), bob(cache_b.get())).first.sas.size() == 4);
  sqlite3_backup* backup = sqlite3_backup_init(old_b.db, "main", cache_b.db, "main");
  ASSERT_NE(backup, nullptr);
  ASSERT_EQ(sqlite3_backup_step(backup, -1), SQLITE_DONE);
  ASSERT_EQ(sqlite3_backup_finish(backup), SQLITE_OK);
  for (int i = 0; i < 2; ++i) {
    auto [sa, sb] = secured_call(alice(cache_a.get()), bob(cache_b.get()));
    EXPECT_FALSE(sa.cache_mismatch);
    EXPECT_FALSE(sb.cache_mismatch);
  }
  auto [sa, sb] = secured_call(alice(cache_a.get()), bob(old_b.get()));
  EXPECT_TRUE(sa.cache_mismatch || sb.cache_mismatch);
  EXPECT_FALSE(sa.verified);
  EXPECT_EQ(sa.sas, sb.sas);
}

}  // namespace
}  // namespace sotto::media
