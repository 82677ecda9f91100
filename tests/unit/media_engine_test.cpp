// media::Engine: two real engines on 127.0.0.1 with the file audio backend.
// A plays a 440 Hz WAV into the call; B's speaker is a WAV file in which
// the tone must be heard, through ZRTP/SRTP on real UDP sockets.
#include "sotto/media/media.h"

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>

#include "harness/prosody.h"  // TempDir
#include "media_recorder.h"
#include "sotto/media/audio.h"

namespace sotto::media {
namespace {

using namespace std::chrono_literals;

class MediaEngine : public ::testing::Test {
 protected:
  std::unique_ptr<Engine> make(Recorder& recorder, AudioOptions audio) {
    EngineOptions options;
    options.audio = std::move(audio);
    // A steady test tone is "noise" to a denoiser: keep the path linear.
    options.echo_cancellation = false;
    options.noise_suppression = false;
    return Engine::create(std::move(options), recorder, [](std::function<void()> f) { f(); });
  }

  static StreamParams params_to(const Engine::Opened& peer) {
    StreamParams params;
    params.codec = sdp::Codec{96, "opus", 48000, 2, "useinbandfec=1; usedtx=1"};
    params.telephone_event_type = 101;
    params.remote_address = "127.0.0.1";
    params.remote_port = peer.rtp_port;
    params.peer_zrtp_hash = peer.zrtp_hash;
    return params;
  }

  sotto::test::TempDir temp_{"sotto-media-engine"};
  const std::filesystem::path dir_ = temp_.path();
};

TEST_F(MediaEngine, TwoEnginesTalkPrivatelyOverLoopback) {
  const auto tone_wav = dir_ / "tone.wav";
  const auto heard_wav = dir_ / "heard.wav";
  ASSERT_TRUE(write_wav(tone_wav, Wav{48000, 1, make_tone(48000, 440, 1.0)}));

  Recorder alice_events;
  Recorder bob_events;
  AudioOptions alice_audio;
  alice_audio.backend = AudioOptions::Backend::file;
  alice_audio.input_wav = tone_wav;
  alice_audio.loop_input = true;
  AudioOptions bob_audio;
  bob_audio.backend = AudioOptions::Backend::file;
  bob_audio.output_wav = heard_wav;
  auto alice = make(alice_events, alice_audio);
  auto bob = make(bob_events, bob_audio);

  auto a = alice->open("127.0.0.1", "alice@example.org", "bob@example.org");
  ASSERT_TRUE(a) << a.error().message;
  auto b = bob->open("127.0.0.1", "bob@example.org", "alice@example.org");
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(a->rtp_port % 2, 0);
  EXPECT_GE(a->rtp_port, 16384);
  EXPECT_LE(a->rtp_port, 32766);
  EXPECT_NE(a->rtp_port, b->rtp_port);
  EXPECT_EQ(a->zrtp_hash.rfind("1.10 ", 0), 0u);

  alice->start(a->id, params_to(*b));
  bob->start(b->id, params_to(*a));
  ASSERT_TRUE(alice_events.wait(3s, is_secure));
  ASSERT_TRUE(bob_events.wait(3s, is_secure));
  const auto sas_of = [](const Recorder& r) { return r.last_security()->sas; };
  const std::string sas = alice_events.read<std::string>(sas_of);
  const std::string bob_sas = bob_events.read<std::string>(sas_of);
  EXPECT_EQ(sas.size(), 4u);
  EXPECT_EQ(sas, bob_sas);

  // Garbage from a stranger on Bob's ports does not break the call.
  {
    asio::io_context io;
    asio::ip::udp::socket raw(io, asio::ip::udp::endpoint(asio::ip::udp::v4(), 0));
    const auto target = asio::ip::make_address("127.0.0.1");
    const std::vector<uint8_t> garbage = {0x80, 0x00, 0x00, 0x01, 0xde, 0xad, 0xbe,
                                          0xef, 0x00, 0x00, 0x00, 0x01, 0x42, 0x42};
    const std::vector<uint8_t> junk = {0x01, 0x02, 0x03};
    for (int i = 0; i < 5; ++i) {
      raw.send_to(asio::buffer(garbage), {target, b->rtp_port});
      raw.send_to(asio::buffer(junk), {target, b->rtp_port});
      raw.send_to(asio::buffer(junk), {target, static_cast<uint16_t>(b->rtp_port + 1)});
    }
  }

  // Bob's 2-second report: audio arrives and the garbage was counted.
  ASSERT_TRUE(bob_events.wait(4s, [](const Recorder& r) {
    return !r.stats_.empty() && r.stats_.back().packets_received >= 50;
  }));
  const CallStats stats =
      bob_events.read<CallStats>([](const Recorder& r) { return r.stats_.back(); });
  EXPECT_EQ(stats.codec, "opus/48000");
  EXPECT_GE(stats.dropped + stats.auth_failures, 10u);
  EXPECT_GT(stats.packets_sent, 0u);

  // Alice hangs up; Bob's side stays sound until it closes too.
  alice->close(a->id);
  alice.reset();
  bob->close(b->id);
  bob.reset();  // joins the media thread: the WAV header is written

  auto heard = read_wav(heard_wav);
  ASSERT_TRUE(heard) << heard.error().message;
  ASSERT_EQ(heard->channels, 1);
  EXPECT_GT(strongest_tone_ratio(heard->samples, heard->rate, 440, 0.5), 0.5)
      << "Bob did not hear Alice's 440 Hz tone";
  // Reported once, no flapping.
  EXPECT_EQ(bob_events.read<std::size_t>([](const Recorder& r) { return r.securities_.size(); }),
            1u);
}

TEST_F(MediaEngine, IdleEngineOpensAndClosesCleanly) {
  Recorder events;
  auto engine = make(events, AudioOptions{});
  auto first = engine->open("127.0.0.1", "alice@example.org", "bob@example.org");
  ASSERT_TRUE(first);
  auto second = engine->open("127.0.0.1", "alice@example.org", "carol@example.org");
  ASSERT_TRUE(second);
  EXPECT_NE(first->id, second->id);
  EXPECT_NE(first->rtp_port, second->rtp_port);
  engine->close(first->id);
  auto bad = engine->open("not-an-address", "alice@example.org", "bob@example.org");
  EXPECT_FALSE(bad);
  // The second stream is closed by the destructor.
}

}  // namespace
}  // namespace sotto::media
