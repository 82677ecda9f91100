// libFuzzer target for what arrives on a media port (sotto/media/rtp.h).
// The input is a script of datagrams, each `length, milliseconds since the
// previous one, bytes`, fed to the parsers and to an RtpSession that also
// reports and sends between them. Invariants: nothing crashes; what parses
// writes back to bytes that parse to the same fields; the session's reports
// parse, and its statistics stay in range.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "sotto/media/rtp.h"

namespace {

namespace media = sotto::media;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "%s\n", what);
  std::abort();
}

void check(bool condition, const char* what) {
  if (!condition) die(what);
}

bool same(const media::ReportBlock& a, const media::ReportBlock& b) {
  return a.ssrc == b.ssrc && a.fraction_lost == b.fraction_lost &&
         a.cumulative_lost == b.cumulative_lost && a.highest_sequence == b.highest_sequence &&
         a.jitter == b.jitter && a.last_sr == b.last_sr &&
         a.delay_since_last_sr == b.delay_since_last_sr;
}

void check_rtp(const media::RtpPacket& packet) {
  const media::Bytes written = media::write_rtp(packet.payload_type, packet.marker, packet.sequence,
                                                packet.timestamp, packet.ssrc, packet.payload);
  auto again = media::parse_rtp(written);
  if (!again) die("a written RTP packet does not parse");
  check(again->payload_type == packet.payload_type && again->marker == packet.marker &&
            again->sequence == packet.sequence && again->timestamp == packet.timestamp &&
            again->ssrc == packet.ssrc &&
            std::equal(again->payload.begin(), again->payload.end(), packet.payload.begin(),
                       packet.payload.end()),
        "RTP does not read back");

  auto event = media::parse_telephone_event(packet.payload);
  if (!event) return;
  auto event_again = media::parse_telephone_event(media::write_telephone_event(*event));
  check(event_again && event_again->event == event->event && event_again->end == event->end &&
            event_again->volume == event->volume && event_again->duration == event->duration,
        "telephone-event does not read back");
  (void)media::dtmf_digit(event->event);
}

void check_rtcp(const media::RtcpPacket& packet) {
  auto again = media::parse_rtcp(
      media::write_rtcp(packet.ssrc, packet.sender, packet.reports, "fuzz@example.org"));
  if (!again) die("a written RTCP packet does not parse");
  check(again->ssrc == packet.ssrc && again->sender.has_value() == packet.sender.has_value(),
        "RTCP does not read back");
  if (packet.sender) {
    check(again->sender->ntp_time == packet.sender->ntp_time &&
              again->sender->rtp_timestamp == packet.sender->rtp_timestamp &&
              again->sender->packet_count == packet.sender->packet_count &&
              again->sender->octet_count == packet.sender->octet_count,
          "SR sender info does not read back");
  }
  const std::size_t written = std::min<std::size_t>(packet.reports.size(), 31);
  check(again->reports.size() == written, "RTCP report count does not read back");
  for (std::size_t i = 0; i < written; ++i) {
    check(same(again->reports[i], packet.reports[i]), "report block does not read back");
  }
}

void check_stats(const media::RtpSession& session) {
  const auto& stats = session.receive_stats();
  check(stats.fraction_lost >= 0 && stats.fraction_lost <= 1, "fraction lost out of range");
  check(std::isfinite(stats.jitter_ms) && stats.jitter_ms >= 0, "jitter out of range");
  check(!stats.rtt_ms || (std::isfinite(*stats.rtt_ms) && *stats.rtt_ms >= 0), "bad RTT");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  media::RtpSession session(0x50770, 48000, "sotto@example.org");
  int64_t now_us = 1'000'000;
  int64_t wall_us = 1'790'000'000'000'000;
  uint32_t timestamp = 0;
  media::ByteView rest(data, size);
  while (rest.size() >= 2) {
    const std::size_t length = std::min<std::size_t>(rest[0], rest.size() - 2);
    // 255 stands for a long silence, enough for another source to take over.
    const int64_t step_us = rest[1] == 255 ? 3'000'000 : int64_t{rest[1]} * 1000;
    const media::ByteView datagram = rest.subspan(2, length);
    rest = rest.subspan(2 + length);
    now_us += step_us;
    wall_us += step_us;

    const media::PacketKind kind = media::classify(datagram);
    if (auto rtp = media::parse_rtp(datagram)) {
      check(kind == media::PacketKind::rtp || kind == media::PacketKind::rtcp,
            "parsed RTP classified as neither RTP nor RTCP");
      check_rtp(*rtp);
      (void)session.received(*rtp, now_us);
    }
    if (auto rtcp = media::parse_rtcp(datagram)) {
      check_rtcp(*rtcp);
      session.received_report(*rtcp, now_us);
    }
    (void)media::parse_telephone_event(datagram);

    // Odd steps: we talk too, and report.
    if (rest.size() % 3 == 0) {
      timestamp += 960;
      const media::Bytes sent = session.packet(111, false, timestamp, datagram);
      check(media::parse_rtp(sent).has_value(), "our RTP does not parse");
    }
    if (step_us % 2000 == 1000) {
      auto report = media::parse_rtcp(session.report(now_us, wall_us, timestamp));
      check(report && report->ssrc == session.ssrc(), "our report does not parse");
    }
    check_stats(session);
  }
  auto bye = media::parse_rtcp(session.bye());
  check(bye && bye->bye, "our BYE does not parse");
  return 0;
}
