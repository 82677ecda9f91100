#include "sotto/media/stream.h"

#include <algorithm>
#include <cctype>
#include <deque>
#include <random>

#include "sotto/media/codec.h"
#include "sotto/media/rtp.h"

namespace sotto::media {
namespace {

constexpr std::string_view kLog = "media";
// media.h: a peer that shows no sign of ZRTP in 3 s does not do ZRTP; a
// handshake that is not secure in 15 s has failed.
constexpr int64_t kNoZrtpDeadlineUs = 3'000'000;
constexpr int64_t kHandshakeDeadlineUs = 15'000'000;
constexpr int64_t kRtcpIntervalUs = 5'000'000;
// RFC 4733: 100 ms per digit (5 packets of 20 ms), the end packet three
// times, then two frames of audio before the next digit.
constexpr int kDtmfFrames = 5;
constexpr int kDtmfEndCopies = 3;
constexpr int kDtmfGapFrames = 2;
constexpr std::size_t kMaxPlayoutSamples = 6 * kFrameSamples;

uint32_t random_u32() {
  static thread_local std::mt19937 random{std::random_device{}()};
  return std::uniform_int_distribution<uint32_t>()(random);
}

std::string random_cname() {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  for (int i = 0; i < 16; ++i) out += kAlphabet[random_u32() % (sizeof(kAlphabet) - 1)];
  return out;
}

bool sends(sdp::Direction direction) {
  return direction == sdp::Direction::sendrecv || direction == sdp::Direction::sendonly;
}

bool receives(sdp::Direction direction) {
  return direction == sdp::Direction::sendrecv || direction == sdp::Direction::recvonly;
}

std::string codec_label(const sdp::Codec& codec) {
  return codec.name + "/" + std::to_string(codec.clock_rate);
}

bool same_codec(const sdp::Codec& a, const sdp::Codec& b) {
  if (a.clock_rate != b.clock_rate || a.name.size() != b.name.size()) return false;
  for (std::size_t i = 0; i < a.name.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a.name[i])) !=
        std::tolower(static_cast<unsigned char>(b.name[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

struct CallStream::Impl {
  StreamSetup setup;
  Callbacks callbacks;
  uint32_t ssrc = random_u32();
  std::unique_ptr<ZrtpChannel> zrtp;
  std::optional<Srtp> srtp;
  Security security;

  bool started = false;
  StreamParams params;
  int64_t started_us = 0;
  bool peer_does_zrtp = false;
  // ZRTP packets that came before start(): the callee starts with its 200 OK
  // and its first Hello may reach the caller before the caller has read the
  // answer. Kept (a few) and handled at start() instead of waiting for a
  // retransmission.
  std::vector<std::vector<uint8_t>> early_zrtp;

  std::unique_ptr<Encoder> encoder;
  std::unique_ptr<Decoder> decoder;
  std::unique_ptr<RtpSession> session;
  std::unique_ptr<JitterBuffer> jitter;
  VoiceProcessor voice;
  Pcm captured = Pcm(kFrameSamples);
  Pcm played = Pcm(kFrameSamples);
  Pcm playout;  // decoded samples waiting to be played
  uint32_t timestamp = random_u32();
  bool marker_next = true;
  bool mute = false;
  int64_t next_rtcp_us = 0;

  // Outgoing telephone-events.
  std::deque<uint8_t> dtmf_queue;
  struct SendingEvent {
    uint8_t event = 0;
    uint32_t timestamp = 0;
    int frame = 0;  // frames sent so far
  };
  std::optional<SendingEvent> dtmf_sending;
  int dtmf_gap = 0;
  // Incoming: the timestamp of the last event reported.
  std::optional<uint32_t> dtmf_reported;

  uint64_t dropped = 0;
  uint64_t auth_failures = 0;
  uint64_t zrtp_rejected = 0;

  Impl(StreamSetup s, Callbacks c)
      : setup(std::move(s)),
        callbacks(std::move(c)),
        voice(setup.echo_cancellation, setup.noise_suppression) {
    if (setup.cname.empty()) setup.cname = random_cname();
  }

  void report(const Security& next) {
    if (next == security) return;
    security = next;
    log::info(kLog, "call security: " + std::string(to_string(security.state)) +
                        (security.reason.empty() ? "" : " (" + security.reason + ")"));
    if (callbacks.security) callbacks.security(security);
  }

  // No ZRTP: plain RTP, or the end of the call when encryption is required.
  void give_up(const std::string& reason) {
    if (security.state == Encryption::secure || security.state == Encryption::failed) return;
    if (security.state == Encryption::none) return;
    Security next;
    next.state = params.require_encryption ? Encryption::failed : Encryption::none;
    next.reason = reason;
    report(next);
  }

  void on_secured(const ZrtpSecured& secured) {
    if (security.state == Encryption::failed) return;
    auto created = Srtp::create(secured.suite, secured.send, secured.receive);
    if (!created) {
      log::warn(kLog, "SRTP could not start: " + created.error().message);
      Security next;
      next.state = params.require_encryption ? Encryption::failed : Encryption::none;
      next.reason = "the encryption keys could not be used";
      srtp.reset();
      report(next);
      return;
    }
    srtp = std::move(*created);
    Security next;
    next.state = Encryption::secure;
    next.sas = secured.sas;
    next.sas_verified = secured.verified;
    next.cache_mismatch = secured.cache_mismatch || secured.was_verified_before;
    next.cipher = secured.cipher + " " + secured.auth_tag + " " + secured.key_agreement;
    report(next);
  }

  bool may_send_media() const {
    return started && sends(params.direction) &&
           (security.state == Encryption::secure || security.state == Encryption::none);
  }

  bool may_play() const {
    return started && receives(params.direction) &&
           (security.state == Encryption::secure || security.state == Encryption::none);
  }

  void send_rtp_packet(Bytes packet) {
    if (security.state == Encryption::secure) {
      if (!srtp || !srtp->protect_rtp(packet)) {
        log::debug(kLog, "SRTP protect failed; packet not sent");
        return;
      }
    }
    if (callbacks.send_rtp) callbacks.send_rtp(std::move(packet));
  }

  Result<void> apply(const StreamParams& next) {
    const bool codec_changed = !encoder || !same_codec(params.codec, next.codec);
    if (codec_changed) {
      auto enc = make_encoder(next.codec);
      if (!enc) return Unexpected(enc.error());
      auto dec = make_decoder(next.codec);
      if (!dec) return Unexpected(dec.error());
      const uint32_t old_rate = encoder ? encoder->clock_rate() : 0;
      encoder = std::move(*enc);
      decoder = std::move(*dec);
      jitter = std::make_unique<JitterBuffer>(decoder->clock_rate(), encoder->timestamp_step());
      if (!session || old_rate != encoder->clock_rate()) {
        session = std::make_unique<RtpSession>(ssrc, encoder->clock_rate(), setup.cname);
      }
      playout.clear();
      marker_next = true;
    }
    if (!receives(next.direction) && jitter) jitter->reset();
    params = next;
    return {};
  }

  void on_rtp(std::span<const uint8_t> datagram, int64_t now_us) {
    if (security.state == Encryption::negotiating || security.state == Encryption::failed) {
      return;  // not played before ZRTP settles (media.h)
    }
    Bytes packet(datagram.begin(), datagram.end());
    if (security.state == Encryption::secure) {
      if (!srtp || !srtp->unprotect_rtp(packet)) {
        ++auth_failures;
        log::debug(kLog, "SRTP packet refused (authentication or replay)");
        return;
      }
    }
    auto parsed = parse_rtp(packet);
    if (!parsed) {
      ++dropped;
      log::debug(kLog, "RTP packet dropped: " + parsed.error().message);
      return;
    }
    const RtpPacket& rtp = *parsed;
    const bool event = params.telephone_event_type &&
                       rtp.payload_type == static_cast<uint8_t>(*params.telephone_event_type);
    if (!event && rtp.payload_type != static_cast<uint8_t>(params.codec.payload_type)) {
      ++dropped;
      log::debug(kLog,
                 "RTP packet of payload type " + std::to_string(rtp.payload_type) + " dropped");
      return;
    }
    if (!session->received(rtp, now_us)) return;  // another source: counted there
    if (event) {
      on_telephone_event(rtp);
      return;
    }
    if (!receives(params.direction)) return;
    jitter->push(rtp.sequence, rtp.timestamp, rtp.payload, now_us);
  }

  void on_telephone_event(const RtpPacket& rtp) {
    auto parsed = parse_telephone_event(rtp.payload);
    if (!parsed) {
      ++dropped;
      return;
    }
    if (dtmf_reported == rtp.timestamp) return;
    dtmf_reported = rtp.timestamp;
    const char digit = dtmf_digit(parsed->event);
    if (digit == '?') return;
    log::debug(kLog, "DTMF received");
    if (callbacks.dtmf) callbacks.dtmf(digit);
  }

  void on_rtcp(std::span<const uint8_t> datagram, int64_t now_us) {
    if (security.state == Encryption::negotiating || security.state == Encryption::failed) {
      return;
    }
    Bytes packet(datagram.begin(), datagram.end());
    if (security.state == Encryption::secure) {
      if (!srtp || !srtp->unprotect_rtcp(packet)) {
        ++auth_failures;
        log::debug(kLog, "SRTCP packet refused (authentication or replay)");
        return;
      }
    }
    auto parsed = parse_rtcp(packet);
    if (!parsed) {
      ++dropped;
      log::debug(kLog, "RTCP packet dropped: " + parsed.error().message);
      return;
    }
    if (session) session->received_report(*parsed, now_us);
  }

  void on_zrtp(std::span<const uint8_t> datagram) {
    if (!zrtp) return;
    peer_does_zrtp = true;
    auto handled = zrtp->on_packet(datagram);
    if (!handled) {
      ++zrtp_rejected;
      log::debug(kLog, "ZRTP packet refused: " + handled.error().message);
    }
  }

  void send_media(int64_t) {
    const bool allowed = may_send_media();
    const uint32_t now_timestamp = timestamp;
    timestamp += encoder->timestamp_step();
    if (!allowed) {
      marker_next = true;
      return;
    }
    if (send_dtmf_frame(now_timestamp)) return;
    if (mute) std::fill(captured.begin(), captured.end(), int16_t{0});
    auto payload = encoder->encode(captured);
    if (payload.empty()) {  // Opus DTX
      marker_next = true;
      return;
    }
    auto packet = session->packet(static_cast<uint8_t>(params.codec.payload_type), marker_next,
                                  now_timestamp, payload);
    marker_next = false;
    send_rtp_packet(std::move(packet));
  }

  // True when this frame's slot went to a telephone-event.
  bool send_dtmf_frame(uint32_t now_timestamp) {
    if (!params.telephone_event_type) {
      dtmf_queue.clear();
      return false;
    }
    if (!dtmf_sending) {
      if (dtmf_gap > 0) {
        --dtmf_gap;
        return false;
      }
      if (dtmf_queue.empty()) return false;
      dtmf_sending = SendingEvent{dtmf_queue.front(), now_timestamp, 0};
      dtmf_queue.pop_front();
    }
    SendingEvent& sending = *dtmf_sending;
    ++sending.frame;
    TelephoneEvent event;
    event.event = sending.event;
    event.duration = static_cast<uint16_t>(std::min<uint32_t>(
        0xffff, encoder->timestamp_step() * static_cast<uint32_t>(sending.frame)));
    event.end = sending.frame >= kDtmfFrames;
    const auto payload = write_telephone_event(event);
    const auto type = static_cast<uint8_t>(*params.telephone_event_type);
    const int copies = event.end ? kDtmfEndCopies : 1;
    for (int i = 0; i < copies; ++i) {
      send_rtp_packet(session->packet(type, sending.frame == 1, sending.timestamp, payload));
    }
    if (event.end) {
      dtmf_sending.reset();
      dtmf_gap = kDtmfGapFrames;
      marker_next = true;
    }
    return true;
  }

  void play(int64_t now_us) {
    Pcm frame(kFrameSamples, 0);
    if (may_play()) {
      auto due = jitter->pop(now_us);
      if (due.kind == JitterBuffer::Frame::audio) {
        auto decoded = decoder->decode(due.payload);
        if (decoded) {
          playout.insert(playout.end(), decoded->begin(), decoded->end());
        } else {
          ++dropped;
          auto concealed = decoder->conceal(std::nullopt);
          playout.insert(playout.end(), concealed.begin(), concealed.end());
        }
      } else if (due.kind == JitterBuffer::Frame::lost) {
        std::optional<std::span<const uint8_t>> next;
        if (due.next) next = std::span<const uint8_t>(*due.next);
        auto concealed = decoder->conceal(next);
        playout.insert(playout.end(), concealed.begin(), concealed.end());
      }
      if (playout.size() > kMaxPlayoutSamples) {
        playout.erase(playout.begin(), playout.begin() + static_cast<std::ptrdiff_t>(
                                                             playout.size() - kMaxPlayoutSamples));
      }
      const std::size_t n = std::min<std::size_t>(kFrameSamples, playout.size());
      std::copy_n(playout.begin(), n, frame.begin());
      playout.erase(playout.begin(), playout.begin() + static_cast<std::ptrdiff_t>(n));
    } else {
      playout.clear();
    }
    played = frame;
    setup.audio->play(played);
  }

  void send_rtcp_report(int64_t now_us, int64_t wall_us) {
    if (security.state != Encryption::secure && security.state != Encryption::none) return;
    if (now_us < next_rtcp_us) return;
    const double spread = 0.5 + static_cast<double>(random_u32() % 1001) / 1000.0;
    next_rtcp_us = now_us + static_cast<int64_t>(static_cast<double>(kRtcpIntervalUs) * spread);
    Bytes packet = session->report(now_us, wall_us, timestamp);
    if (security.state == Encryption::secure) {
      if (!srtp || !srtp->protect_rtcp(packet)) return;
    }
    if (callbacks.send_rtcp) callbacks.send_rtcp(std::move(packet));
  }

  void check_deadlines(int64_t now_us) {
    if (security.state != Encryption::negotiating) return;
    const int64_t elapsed = now_us - started_us;
    if (!peer_does_zrtp && elapsed >= kNoZrtpDeadlineUs) {
      give_up("the other side does not encrypt calls (no ZRTP)");
    } else if (elapsed >= kHandshakeDeadlineUs) {
      give_up("the encryption handshake (ZRTP) did not complete");
    }
  }
};

Result<std::unique_ptr<CallStream>> CallStream::create(StreamSetup setup, Callbacks callbacks) {
  if (!setup.audio) return fail(Errc::invalid_argument, "a call stream needs an audio port");
  auto impl = std::make_unique<Impl>(std::move(setup), std::move(callbacks));
  if (impl->setup.zrtp) {
    Impl* self = impl.get();
    ZrtpConfig config;
    config.cache = impl->setup.cache;
    config.self_uri = impl->setup.self_uri;
    config.peer_uri = impl->setup.peer_uri;
    config.ssrc = impl->ssrc;
    ZrtpChannel::Callbacks zrtp_callbacks;
    zrtp_callbacks.send = [self](std::vector<uint8_t> packet) {
      if (self->callbacks.send_rtp) self->callbacks.send_rtp(std::move(packet));
    };
    zrtp_callbacks.secured = [self](const ZrtpSecured& secured) { self->on_secured(secured); };
    zrtp_callbacks.failed = [self](const std::string& reason) {
      log::info(kLog, "ZRTP failed: " + reason);
      self->give_up(reason);
    };
    auto channel = ZrtpChannel::create(std::move(config), std::move(zrtp_callbacks));
    if (!channel) return Unexpected(channel.error());
    impl->zrtp = std::move(*channel);
  }
  return std::unique_ptr<CallStream>(new CallStream(std::move(impl)));
}

CallStream::CallStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

CallStream::~CallStream() {
  if (impl_ && impl_->setup.audio) impl_->setup.audio->close();
}

std::string CallStream::zrtp_hash() const {
  return impl_->zrtp ? impl_->zrtp->hello_hash() : std::string();
}

uint32_t CallStream::ssrc() const { return impl_->ssrc; }

Result<void> CallStream::start(const StreamParams& params, int64_t now_us) {
  Impl& s = *impl_;
  auto applied = s.apply(params);
  if (!applied) return applied;
  if (s.started) return {};
  s.started = true;
  s.started_us = now_us;
  s.next_rtcp_us = now_us + kRtcpIntervalUs / 2;
  if (!s.zrtp) {
    s.give_up("encryption (ZRTP) is switched off");
    return {};
  }
  if (params.peer_zrtp_hash) {
    s.peer_does_zrtp = true;
    auto set = s.zrtp->set_peer_hello_hash(*params.peer_zrtp_hash);
    if (!set) log::debug(kLog, "peer zrtp-hash not used: " + set.error().message);
  }
  s.zrtp->start(now_us / 1000);
  // The first Hello leaves now rather than on the next tick.
  s.zrtp->tick(now_us / 1000);
  auto early = std::move(s.early_zrtp);
  s.early_zrtp.clear();
  for (const auto& packet : early) on_datagram(packet, false, now_us);
  return {};
}

void CallStream::on_datagram(std::span<const uint8_t> datagram, bool rtcp, int64_t now_us) {
  Impl& s = *impl_;
  if (!s.started) {
    constexpr std::size_t kEarlyPackets = 8;
    if (!rtcp && s.early_zrtp.size() < kEarlyPackets && classify(datagram) == PacketKind::zrtp) {
      s.early_zrtp.emplace_back(datagram.begin(), datagram.end());
    }
    return;
  }
  switch (classify(datagram)) {
    case PacketKind::zrtp:
      if (rtcp) {
        ++s.dropped;
        return;
      }
      s.on_zrtp(datagram);
      return;
    case PacketKind::rtcp:
      s.on_rtcp(datagram, now_us);
      return;
    case PacketKind::rtp:
      if (rtcp) {
        ++s.dropped;
        return;
      }
      s.on_rtp(datagram, now_us);
      return;
    case PacketKind::garbage:
      ++s.dropped;
      log::debug(kLog, "garbage datagram dropped (" + std::to_string(datagram.size()) + " bytes)");
      return;
  }
}

void CallStream::tick(int64_t now_us, int64_t wall_us) {
  Impl& s = *impl_;
  if (!s.started) return;
  if (s.zrtp && s.security.state != Encryption::failed) s.zrtp->tick(now_us / 1000);
  s.check_deadlines(now_us);
  s.setup.audio->capture(s.captured);
  s.voice.process(s.captured, s.played);
  s.send_media(now_us);
  s.play(now_us);
  s.send_rtcp_report(now_us, wall_us);
}

std::vector<uint8_t> CallStream::bye() {
  Impl& s = *impl_;
  if (!s.started || !s.session) return {};
  Bytes packet = s.session->bye();
  if (s.security.state == Encryption::secure) {
    if (!s.srtp || !s.srtp->protect_rtcp(packet)) return {};
  }
  return packet;
}

void CallStream::set_sas_verified(bool verified) {
  Impl& s = *impl_;
  if (s.zrtp) s.zrtp->set_sas_verified(verified);
  if (s.security.state != Encryption::secure) return;
  Security next = s.security;
  next.sas_verified = verified;
  if (verified) next.cache_mismatch = false;
  s.report(next);
}

void CallStream::set_mute(bool mute) { impl_->mute = mute; }

void CallStream::send_dtmf(const std::string& digits) {
  for (char c : digits) {
    if (auto event = dtmf_event(c)) impl_->dtmf_queue.push_back(*event);
  }
}

const Security& CallStream::security() const { return impl_->security; }

CallStats CallStream::stats() const {
  const Impl& s = *impl_;
  CallStats out;
  out.dropped = s.dropped;
  out.auth_failures = s.auth_failures;
  out.zrtp_rejected = s.zrtp_rejected;
  if (!s.session) return out;
  out.codec = codec_label(s.params.codec);
  const auto& sent = s.session->send_stats();
  const auto& received = s.session->receive_stats();
  out.packets_sent = sent.packets;
  out.packets_received = received.packets;
  const double expected =
      static_cast<double>(received.packets) + static_cast<double>(received.lost);
  if (expected > 0 && received.lost > 0) out.loss = static_cast<double>(received.lost) / expected;
  out.jitter_ms = received.jitter_ms;
  out.rtt_ms = received.rtt_ms;
  out.dropped += received.dropped;
  if (s.jitter) {
    const auto jitter = s.jitter->stats();
    out.buffer_ms = jitter.current_ms;
    out.concealed = jitter.concealed;
  }
  return out;
}

}  // namespace sotto::media
