// A man in the middle of a ZRTP call (issue 7): two real media engines on
// 127.0.0.1, each with its own encrypted ZRTP cache, first talk directly and
// confirm the code (SAS); then their second call goes through a relay in this
// test that terminates ZRTP with each side separately (as an attacker who
// controls the signalling and rewrites a=zrtp-hash would) and re-encrypts the
// audio. What the users must see: different codes on the two sides, and the
// loud warning that the keys changed since the verified call, on both.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <optional>
#include <thread>

#include "harness/prosody.h"  // TempDir
#include "media_recorder.h"
#include "sotto/media/media.h"
#include "sotto/media/rtp.h"
#include "sotto/media/zrtp.h"
#include "sotto/store/store.h"

namespace sotto::media {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A party of the calls: its ZRTP cache (an encrypted database that outlives
// its engines) and, per call, an engine with a recorder of what it reports.
struct Party {
  std::filesystem::path cache_path;
  store::DataKey key = store::DataKey::random();
  std::unique_ptr<Recorder> events = {};
  std::unique_ptr<Engine> engine = {};

  // A new engine for the next call, on the same cache.
  void new_engine() {
    engine.reset();  // closes the cache
    events = std::make_unique<Recorder>();
    EngineOptions options;
    options.audio.backend = AudioOptions::Backend::null;
    engine = Engine::create(options, *events, [](std::function<void()> work) { work(); });
    auto cache = store::Database::open(cache_path, key);
    ASSERT_TRUE(cache) << cache.error().message;
    engine->set_zrtp_cache(std::move(*cache));
  }
  std::optional<Security> wait_secure() {
    if (!events->wait(20s, is_secure)) return std::nullopt;
    return events->read<Security>([](const Recorder& r) { return *r.last_security(); });
  }
};

StreamParams params_to(uint16_t port, const std::optional<std::string>& peer_hash) {
  StreamParams params;
  params.codec = sdp::Codec{0, "PCMU", 8000, 1, ""};
  params.remote_address = "127.0.0.1";
  params.remote_port = port;
  params.peer_zrtp_hash = peer_hash;
  return params;
}

// One leg of the relay: a UDP socket facing one party, and the ZRTP channel
// that pretends to be the other party to it.
struct Leg {
  int fd = -1;
  uint16_t port = 0;
  sockaddr_in peer{};
  bool peer_known = false;
  std::unique_ptr<ZrtpChannel> zrtp;
  std::optional<ZrtpSecured> secured;
  std::optional<Srtp> srtp;

  Leg() {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local), 0);
    socklen_t size = sizeof local;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &size);
    port = ntohs(local.sin_port);
  }
  ~Leg() { ::close(fd); }
  void send(const std::vector<uint8_t>& packet) const {
    if (!peer_known) return;
    (void)::sendto(fd, packet.data(), packet.size(), 0, reinterpret_cast<const sockaddr*>(&peer),
                   sizeof peer);
  }
};

// Terminates ZRTP with each side and re-encrypts what one sends to the other.
class Relay {
 public:
  Relay(const std::string& a_uri, const std::string& b_uri) {
    // To A it is B, to B it is A; its own ZIDs, no cache.
    to_a_.zrtp = channel(to_a_, b_uri, a_uri);
    to_b_.zrtp = channel(to_b_, a_uri, b_uri);
  }
  ~Relay() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  Leg& to_a() { return to_a_; }
  Leg& to_b() { return to_b_; }
  void run() {
    thread_ = std::thread([this] { loop(); });
  }
  std::atomic<int> relayed{0};

 private:
  std::unique_ptr<ZrtpChannel> channel(Leg& leg, const std::string& self, const std::string& peer) {
    ZrtpConfig config;
    config.self_uri = self;
    config.peer_uri = peer;
    config.ssrc = 0x1000 + static_cast<uint32_t>(leg.port);
    ZrtpChannel::Callbacks callbacks;
    callbacks.send = [&leg](std::vector<uint8_t> packet) { leg.send(packet); };
    callbacks.secured = [&leg](const ZrtpSecured& secured) {
      leg.secured = secured;
      auto srtp = Srtp::create(secured.suite, secured.send, secured.receive);
      EXPECT_TRUE(srtp);
      if (srtp) leg.srtp.emplace(std::move(*srtp));
    };
    callbacks.failed = [](const std::string& reason) { ADD_FAILURE() << "relay ZRTP: " << reason; };
    auto made = ZrtpChannel::create(config, std::move(callbacks));
    EXPECT_TRUE(made);
    return made ? std::move(*made) : nullptr;
  }

  static int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
        .count();
  }

  void loop() {
    bool started = false;
    std::vector<uint8_t> buffer(4096);
    while (!stop_) {
      pollfd fds[2] = {{to_a_.fd, POLLIN, 0}, {to_b_.fd, POLLIN, 0}};
      ::poll(fds, 2, 10);
      for (int i = 0; i < 2; ++i) {
        if ((fds[i].revents & POLLIN) == 0) continue;
        Leg& from = i == 0 ? to_a_ : to_b_;
        Leg& to = i == 0 ? to_b_ : to_a_;
        sockaddr_in source{};
        socklen_t size = sizeof source;
        const ssize_t n = ::recvfrom(from.fd, buffer.data(), buffer.size(), 0,
                                     reinterpret_cast<sockaddr*>(&source), &size);
        if (n <= 0) continue;
        from.peer = source;
        from.peer_known = true;
        if (!started) {
          to_a_.zrtp->start(now_ms());
          to_b_.zrtp->start(now_ms());
          started = true;
        }
        std::vector<uint8_t> packet(buffer.begin(), buffer.begin() + n);
        const PacketKind kind = classify(packet);
        if (kind == PacketKind::zrtp) {
          (void)from.zrtp->on_packet(packet);
        } else if (kind == PacketKind::rtp && from.srtp && to.srtp) {
          // The attacker hears everything and passes it on.
          if (from.srtp->unprotect_rtp(packet) && to.srtp->protect_rtp(packet)) {
            to.send(packet);
            ++relayed;
          }
        }
      }
      to_a_.zrtp->tick(now_ms());
      to_b_.zrtp->tick(now_ms());
    }
  }

  Leg to_a_;
  Leg to_b_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(MediaMitm, ARelayAfterAVerifiedCallShowsDifferentCodesAndWarnsBothSides) {
  sotto::test::TempDir dir("sotto-mitm");
  Party alice{dir.path() / "alice-zrtp.db"};
  Party bob{dir.path() / "bob-zrtp.db"};
  const std::string alice_uri = "alice@example.org";
  const std::string bob_uri = "bob@example.org";

  // 1. A direct call: same code on both sides, which both confirm.
  alice.new_engine();
  bob.new_engine();
  {
    auto a = alice.engine->open("127.0.0.1", alice_uri, bob_uri);
    auto b = bob.engine->open("127.0.0.1", bob_uri, alice_uri);
    ASSERT_TRUE(a && b);
    alice.engine->start(a->id, params_to(b->rtp_port, b->zrtp_hash));
    bob.engine->start(b->id, params_to(a->rtp_port, a->zrtp_hash));
    auto as = alice.wait_secure();
    auto bs = bob.wait_secure();
    ASSERT_TRUE(as && bs) << "the direct call did not become secure";
    EXPECT_EQ(as->sas, bs->sas);
    EXPECT_FALSE(as->cache_mismatch);
    alice.engine->set_sas_verified(a->id, true);
    bob.engine->set_sas_verified(b->id, true);
    const auto verified = [](const Recorder& r) {
      return r.last_security() && r.last_security()->sas_verified;
    };
    ASSERT_TRUE(alice.events->wait(20s, verified));
    ASSERT_TRUE(bob.events->wait(20s, verified));
    alice.engine->close(a->id);
    bob.engine->close(b->id);
  }

  // 2. The same two, through the relay: each side's peer is the attacker.
  alice.new_engine();
  bob.new_engine();
  Relay relay(alice_uri, bob_uri);
  auto a = alice.engine->open("127.0.0.1", alice_uri, bob_uri);
  auto b = bob.engine->open("127.0.0.1", bob_uri, alice_uri);
  ASSERT_TRUE(a && b);
  // The attacker rewrote a=zrtp-hash in the SDP with its own Hellos' hashes.
  alice.engine->start(a->id, params_to(relay.to_a().port, relay.to_a().zrtp->hello_hash()));
  bob.engine->start(b->id, params_to(relay.to_b().port, relay.to_b().zrtp->hello_hash()));
  relay.run();
  auto as = alice.wait_secure();
  auto bs = bob.wait_secure();
  ASSERT_TRUE(as && bs) << "the relayed call did not become secure";
  EXPECT_NE(as->sas, bs->sas) << "a relay must not be able to show both sides one code";
  EXPECT_TRUE(as->cache_mismatch) << "alice was not warned";
  EXPECT_TRUE(bs->cache_mismatch) << "bob was not warned";
  EXPECT_FALSE(as->sas_verified);
  EXPECT_FALSE(bs->sas_verified);
  // The attacker does relay the audio: only the codes and the warning tell.
  EXPECT_TRUE(bob.events->wait(20s, [](const Recorder& r) {
    return !r.stats_.empty() && r.stats_.back().packets_received >= 20;
  }));
  EXPECT_GT(relay.relayed.load(), 0);
  alice.engine->close(a->id);
  bob.engine->close(b->id);
}

}  // namespace
}  // namespace sotto::media
