#include "sotto/media/rtp.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace sotto::media {
namespace {

constexpr uint8_t kVersion = 2;
constexpr std::size_t kRtpHeader = 12;
constexpr uint32_t kZrtpCookie = 0x5A525450;
constexpr uint8_t kRtcpSr = 200;
constexpr uint8_t kRtcpRr = 201;
constexpr uint8_t kRtcpSdes = 202;
constexpr uint8_t kRtcpBye = 203;
constexpr uint8_t kSdesCname = 1;
constexpr std::size_t kReportBlock = 24;
constexpr std::size_t kMaxReportBlocks = 31;
// RFC 3550 A.1
constexpr uint32_t kSeqMod = 1 << 16;
constexpr uint16_t kMaxDropout = 3000;
constexpr uint16_t kMaxMisorder = 100;
constexpr uint32_t kMinSequential = 2;
constexpr int64_t kSilenceBeforeTakeoverUs = 2'000'000;
constexpr std::size_t kRememberedReports = 8;
constexpr int64_t kNtpUnixOffsetSeconds = 2'208'988'800;

uint16_t be16(ByteView bytes, std::size_t at) {
  return static_cast<uint16_t>(bytes[at] << 8 | bytes[at + 1]);
}

uint32_t be32(ByteView bytes, std::size_t at) {
  return static_cast<uint32_t>(bytes[at]) << 24 | static_cast<uint32_t>(bytes[at + 1]) << 16 |
         static_cast<uint32_t>(bytes[at + 2]) << 8 | bytes[at + 3];
}

void put16(Bytes& out, uint16_t value) {
  out.push_back(static_cast<uint8_t>(value >> 8));
  out.push_back(static_cast<uint8_t>(value));
}

void put32(Bytes& out, uint32_t value) {
  put16(out, static_cast<uint16_t>(value >> 16));
  put16(out, static_cast<uint16_t>(value));
}

uint8_t version(ByteView bytes) { return bytes[0] >> 6; }

// An RTCP header whose length field is filled in by `finish_rtcp`.
std::size_t start_rtcp(Bytes& out, uint8_t count, uint8_t type) {
  const std::size_t start = out.size();
  out.push_back(static_cast<uint8_t>(kVersion << 6 | count));
  out.push_back(type);
  put16(out, 0);
  return start;
}

void finish_rtcp(Bytes& out, std::size_t start) {
  const auto words = static_cast<uint16_t>((out.size() - start) / 4 - 1);
  out[start + 2] = static_cast<uint8_t>(words >> 8);
  out[start + 3] = static_cast<uint8_t>(words);
}

ReportBlock parse_block(ByteView bytes) {
  ReportBlock block;
  block.ssrc = be32(bytes, 0);
  block.fraction_lost = bytes[4];
  const uint32_t lost = be32(bytes, 4) & 0xFFFFFF;
  block.cumulative_lost = static_cast<int32_t>(lost << 8) >> 8;  // sign-extend 24 bits
  block.highest_sequence = be32(bytes, 8);
  block.jitter = be32(bytes, 12);
  block.last_sr = be32(bytes, 16);
  block.delay_since_last_sr = be32(bytes, 20);
  return block;
}

void write_block(Bytes& out, const ReportBlock& block) {
  const int32_t lost = std::clamp(block.cumulative_lost, -0x800000, 0x7FFFFF);
  put32(out, block.ssrc);
  put32(out, static_cast<uint32_t>(block.fraction_lost) << 24 |
                 (static_cast<uint32_t>(lost) & 0xFFFFFF));
  put32(out, block.highest_sequence);
  put32(out, block.jitter);
  put32(out, block.last_sr);
  put32(out, block.delay_since_last_sr);
}

void write_report(Bytes& out, uint32_t ssrc, const std::optional<SenderInfo>& sender,
                  const std::vector<ReportBlock>& reports) {
  const std::size_t count = std::min(reports.size(), kMaxReportBlocks);
  const std::size_t start =
      start_rtcp(out, static_cast<uint8_t>(count), sender ? kRtcpSr : kRtcpRr);
  put32(out, ssrc);
  if (sender) {
    put32(out, static_cast<uint32_t>(sender->ntp_time >> 32));
    put32(out, static_cast<uint32_t>(sender->ntp_time));
    put32(out, sender->rtp_timestamp);
    put32(out, sender->packet_count);
    put32(out, sender->octet_count);
  }
  for (std::size_t i = 0; i < count; ++i) write_block(out, reports[i]);
  finish_rtcp(out, start);
}

// RFC 3550 §6.5: one chunk with the CNAME item, ended by null octets up to
// the next 32-bit boundary (at least one).
void write_sdes(Bytes& out, uint32_t ssrc, const std::string& cname) {
  const std::size_t start = start_rtcp(out, 1, kRtcpSdes);
  const std::size_t length = std::min<std::size_t>(cname.size(), 255);
  put32(out, ssrc);
  out.push_back(kSdesCname);
  out.push_back(static_cast<uint8_t>(length));
  out.insert(out.end(), cname.begin(), cname.begin() + static_cast<std::ptrdiff_t>(length));
  do {
    out.push_back(0);
  } while (out.size() % 4 != 0);
  finish_rtcp(out, start);
}

// The middle 32 bits of an NTP time, as carried in LSR.
uint32_t ntp_middle(uint64_t ntp) { return static_cast<uint32_t>(ntp >> 16); }

uint32_t clamp_u32(double value) {
  if (!(value > 0)) return 0;
  return value >= 4294967295.0 ? 0xFFFFFFFF : static_cast<uint32_t>(value);
}

// Differences of caller-supplied times in double: no overflow on any input.
double elapsed_us(int64_t from, int64_t to) {
  return static_cast<double>(to) - static_cast<double>(from);
}

}  // namespace

PacketKind classify(ByteView datagram) {
  if (datagram.size() >= 12 && datagram[0] == 0x10 && be32(datagram, 4) == kZrtpCookie) {
    return PacketKind::zrtp;
  }
  if (datagram.size() < 8 || version(datagram) != kVersion) return PacketKind::garbage;
  if (datagram[1] >= 192 && datagram[1] <= 223) return PacketKind::rtcp;
  return datagram.size() >= kRtpHeader ? PacketKind::rtp : PacketKind::garbage;
}

Result<RtpPacket> parse_rtp(ByteView datagram) {
  if (datagram.size() < kRtpHeader) return fail(Errc::protocol, "RTP: shorter than its header");
  if (version(datagram) != kVersion) return fail(Errc::protocol, "RTP: not version 2");
  std::size_t offset = kRtpHeader + 4 * static_cast<std::size_t>(datagram[0] & 0x0F);
  if (offset > datagram.size()) return fail(Errc::protocol, "RTP: CSRC list past the end");
  if (datagram[0] & 0x10) {
    if (offset + 4 > datagram.size()) return fail(Errc::protocol, "RTP: extension past the end");
    offset += 4 + 4 * static_cast<std::size_t>(be16(datagram, offset + 2));
    if (offset > datagram.size()) return fail(Errc::protocol, "RTP: extension past the end");
  }
  std::size_t end = datagram.size();
  if (datagram[0] & 0x20) {
    const uint8_t padding = datagram.back();
    if (padding == 0 || padding > end - offset) {
      return fail(Errc::protocol, "RTP: bad padding length");
    }
    end -= padding;
  }
  RtpPacket packet;
  packet.marker = (datagram[1] & 0x80) != 0;
  packet.payload_type = datagram[1] & 0x7F;
  packet.sequence = be16(datagram, 2);
  packet.timestamp = be32(datagram, 4);
  packet.ssrc = be32(datagram, 8);
  packet.payload = datagram.subspan(offset, end - offset);
  return packet;
}

Bytes write_rtp(uint8_t payload_type, bool marker, uint16_t sequence, uint32_t timestamp,
                uint32_t ssrc, ByteView payload) {
  Bytes out;
  out.reserve(kRtpHeader + payload.size());
  out.push_back(kVersion << 6);
  out.push_back(static_cast<uint8_t>((marker ? 0x80 : 0) | (payload_type & 0x7F)));
  put16(out, sequence);
  put32(out, timestamp);
  put32(out, ssrc);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

Result<RtcpPacket> parse_rtcp(ByteView datagram) {
  if (datagram.empty()) return fail(Errc::protocol, "RTCP: empty");
  RtcpPacket packet;
  bool have_report = false;
  bool have_ssrc = false;
  for (ByteView rest = datagram; !rest.empty();) {
    if (rest.size() < 4) return fail(Errc::protocol, "RTCP: truncated header");
    if (version(rest) != kVersion) return fail(Errc::protocol, "RTCP: not version 2");
    const std::size_t length = (static_cast<std::size_t>(be16(rest, 2)) + 1) * 4;
    if (length > rest.size()) return fail(Errc::protocol, "RTCP: length past the end");
    ByteView part = rest.first(length);
    rest = rest.subspan(length);
    if (part[0] & 0x20) {
      const uint8_t padding = part.back();
      if (padding == 0 || padding > length - 4) {
        return fail(Errc::protocol, "RTCP: bad padding length");
      }
      part = part.first(length - padding);
    }
    const std::size_t count = part[0] & 0x1F;
    const uint8_t type = part[1];
    if (type == kRtcpSr || type == kRtcpRr) {
      const std::size_t blocks_at = type == kRtcpSr ? 28 : 8;
      if (part.size() < blocks_at + count * kReportBlock) {
        return fail(Errc::protocol, "RTCP: report shorter than its blocks");
      }
      const uint32_t ssrc = be32(part, 4);
      if (have_report && ssrc != packet.ssrc) continue;  // another sender's: not ours to read
      if (!have_report && type == kRtcpSr) {
        SenderInfo sender;
        sender.ntp_time = static_cast<uint64_t>(be32(part, 8)) << 32 | be32(part, 12);
        sender.rtp_timestamp = be32(part, 16);
        sender.packet_count = be32(part, 20);
        sender.octet_count = be32(part, 24);
        packet.sender = sender;
      }
      for (std::size_t i = 0; i < count; ++i) {
        packet.reports.push_back(parse_block(part.subspan(blocks_at + i * kReportBlock)));
      }
      packet.ssrc = ssrc;
      have_report = have_ssrc = true;
    } else if (type == kRtcpBye) {
      if (count > 0 && part.size() < 8) return fail(Errc::protocol, "RTCP: BYE without SSRC");
      packet.bye = true;
      if (!have_ssrc && count > 0) {
        packet.ssrc = be32(part, 4);
        have_ssrc = true;
      }
    }
  }
  return packet;
}

Bytes write_rtcp(uint32_t ssrc, const std::optional<SenderInfo>& sender,
                 const std::vector<ReportBlock>& reports, const std::string& cname) {
  Bytes out;
  write_report(out, ssrc, sender, reports);
  write_sdes(out, ssrc, cname);
  return out;
}

Bytes write_rtcp_bye(uint32_t ssrc, const std::string& cname) {
  Bytes out = write_rtcp(ssrc, std::nullopt, {}, cname);
  const std::size_t start = start_rtcp(out, 1, kRtcpBye);
  put32(out, ssrc);
  finish_rtcp(out, start);
  return out;
}

uint64_t ntp_from_unix_micros(int64_t micros) {
  int64_t seconds = micros / 1'000'000;
  int64_t rest = micros % 1'000'000;
  if (rest < 0) {
    rest += 1'000'000;
    --seconds;
  }
  const auto fraction = (static_cast<uint64_t>(rest) << 32) / 1'000'000;
  return static_cast<uint64_t>(seconds + kNtpUnixOffsetSeconds) << 32 | fraction;
}

// --- RFC 4733 §2.3

Result<TelephoneEvent> parse_telephone_event(ByteView payload) {
  if (payload.size() < 4) return fail(Errc::protocol, "telephone-event: shorter than 4 bytes");
  TelephoneEvent event;
  event.event = payload[0];
  event.end = (payload[1] & 0x80) != 0;
  event.volume = payload[1] & 0x3F;
  event.duration = be16(payload, 2);
  return event;
}

Bytes write_telephone_event(const TelephoneEvent& event) {
  Bytes out{event.event, static_cast<uint8_t>((event.end ? 0x80 : 0) | (event.volume & 0x3F))};
  put16(out, event.duration);
  return out;
}

std::optional<uint8_t> dtmf_event(char digit) {
  if (digit >= '0' && digit <= '9') return static_cast<uint8_t>(digit - '0');
  if (digit == '*') return 10;
  if (digit == '#') return 11;
  if (digit >= 'A' && digit <= 'D') return static_cast<uint8_t>(12 + digit - 'A');
  if (digit >= 'a' && digit <= 'd') return static_cast<uint8_t>(12 + digit - 'a');
  return std::nullopt;
}

char dtmf_digit(uint8_t event) {
  static constexpr char kDigits[] = "0123456789*#ABCD";
  return event < 16 ? kDigits[event] : '?';
}

// --- RtpSession

RtpSession::RtpSession(uint32_t ssrc, uint32_t clock_rate, std::string cname)
    : ssrc_(ssrc),
      clock_rate_(clock_rate),
      cname_(std::move(cname)),
      // RFC 3550 §5.1 wants a random start; the SSRC is random.
      next_sequence_(static_cast<uint16_t>(ssrc ^ (ssrc >> 16))) {}

Bytes RtpSession::packet(uint8_t payload_type, bool marker, uint32_t timestamp, ByteView payload) {
  ++send_.packets;
  send_.bytes += payload.size();
  sent_since_report_ = true;
  last_rtp_sent_ = timestamp;
  return write_rtp(payload_type, marker, next_sequence_++, timestamp, ssrc_, payload);
}

void RtpSession::start_source(uint32_t ssrc, uint16_t sequence) {
  remote_ssrc_ = ssrc;
  remote_bye_ = false;
  init_sequence(sequence);
  max_seq_ = static_cast<uint16_t>(sequence - 1);
  probation_ = kMinSequential;
  has_transit_ = false;
  jitter_ = 0;
  receive_.lost = 0;
  receive_.fraction_lost = 0;
  receive_.jitter_ms = 0;
}

// RFC 3550 A.1 init_seq
void RtpSession::init_sequence(uint16_t sequence) {
  base_seq_ = sequence;
  max_seq_ = sequence;
  bad_seq_ = kSeqMod + 1;
  cycles_ = 0;
  source_received_ = 0;
  received_prior_ = 0;
  expected_prior_ = 0;
}

// RFC 3550 A.1 update_seq: whether the packet counts for the statistics.
bool RtpSession::update_sequence(uint16_t sequence) {
  const auto delta = static_cast<uint16_t>(sequence - max_seq_);
  if (probation_ > 0) {
    if (sequence == static_cast<uint16_t>(max_seq_ + 1)) {
      --probation_;
      max_seq_ = sequence;
      if (probation_ == 0) {
        init_sequence(sequence);
        ++source_received_;
        return true;
      }
    } else {
      probation_ = kMinSequential - 1;
      max_seq_ = sequence;
    }
    return false;
  }
  if (delta < kMaxDropout) {
    if (sequence < max_seq_) cycles_ += kSeqMod;  // wrapped
    max_seq_ = sequence;
  } else if (delta <= kSeqMod - kMaxMisorder) {
    // A large jump: the sender restarted if the next packet follows this one.
    if (sequence != bad_seq_) {
      bad_seq_ = (sequence + 1u) & (kSeqMod - 1);
      return false;
    }
    init_sequence(sequence);
  }  // else a duplicate or a late packet
  ++source_received_;
  return true;
}

uint32_t RtpSession::extended_max() const { return cycles_ + max_seq_; }

int64_t RtpSession::source_lost() const {
  const int64_t expected = static_cast<int64_t>(extended_max()) - base_seq_ + 1;
  return expected - static_cast<int64_t>(source_received_);
}

bool RtpSession::received(const RtpPacket& packet, int64_t arrival_us) {
  if (!remote_ssrc_) {
    start_source(packet.ssrc, packet.sequence);
  } else if (packet.ssrc != *remote_ssrc_) {
    const bool silent = elapsed_us(last_heard_us_, arrival_us) >= kSilenceBeforeTakeoverUs;
    if (!remote_bye_ && !silent) {
      ++receive_.dropped;
      return false;
    }
    start_source(packet.ssrc, packet.sequence);
    peer_last_sr_ = 0;  // the old source's
  }
  last_heard_us_ = arrival_us;
  ++receive_.packets;
  receive_.bytes += packet.payload.size();
  if (update_sequence(packet.sequence)) receive_.lost = source_lost();

  // RFC 3550 A.8, arrival converted to timestamp units. Packets of an
  // instant already seen (RFC 4733 event updates) would only add their send
  // spacing, which is no jitter: the first one counts.
  if (has_transit_ && packet.timestamp == last_timestamp_) return true;
  if (has_transit_) {
    const double arrival_units = elapsed_us(last_arrival_us_, arrival_us) * clock_rate_ / 1e6;
    const auto sent_units = static_cast<int32_t>(packet.timestamp - last_timestamp_);
    const double d = arrival_units - sent_units;
    jitter_ += (std::abs(d) - jitter_) / 16;
    receive_.jitter_ms = clock_rate_ > 0 ? jitter_ * 1000 / clock_rate_ : 0;
  }
  has_transit_ = true;
  last_arrival_us_ = arrival_us;
  last_timestamp_ = packet.timestamp;
  return true;
}

Bytes RtpSession::report(int64_t now_us, int64_t wall_us, uint32_t rtp_timestamp_now) {
  std::optional<SenderInfo> sender;
  if (sent_since_report_) {
    sender = SenderInfo{ntp_from_unix_micros(wall_us), rtp_timestamp_now,
                        static_cast<uint32_t>(send_.packets), static_cast<uint32_t>(send_.bytes)};
    sent_reports_.emplace_back(ntp_middle(sender->ntp_time), now_us);
    if (sent_reports_.size() > kRememberedReports) sent_reports_.erase(sent_reports_.begin());
    sent_since_report_ = false;
  }
  std::vector<ReportBlock> blocks;
  if (remote_ssrc_ && probation_ == 0) {
    // RFC 3550 A.3
    const uint32_t expected = extended_max() - base_seq_ + 1;
    const uint32_t expected_interval = expected - expected_prior_;
    const int64_t received_interval = static_cast<int64_t>(source_received_ - received_prior_);
    const int64_t lost_interval = static_cast<int64_t>(expected_interval) - received_interval;
    expected_prior_ = expected;
    received_prior_ = source_received_;
    const uint8_t fraction = expected_interval == 0 || lost_interval <= 0
                                 ? 0
                                 : static_cast<uint8_t>(std::min<int64_t>(
                                       255, (lost_interval << 8) / expected_interval));
    receive_.fraction_lost = fraction / 256.0;

    ReportBlock block;
    block.ssrc = *remote_ssrc_;
    block.fraction_lost = fraction;
    block.cumulative_lost =
        static_cast<int32_t>(std::clamp<int64_t>(source_lost(), -0x800000, 0x7FFFFF));
    block.highest_sequence = extended_max();
    block.jitter = clamp_u32(jitter_);
    if (peer_last_sr_ != 0) {
      block.last_sr = peer_last_sr_;
      block.delay_since_last_sr =
          clamp_u32(elapsed_us(peer_last_sr_arrival_us_, now_us) * 65536 / 1e6);
    }
    blocks.push_back(block);
  }
  return write_rtcp(ssrc_, sender, blocks, cname_);
}

void RtpSession::received_report(const RtcpPacket& report, int64_t now_us) {
  if (remote_ssrc_ && report.ssrc != *remote_ssrc_) {
    ++receive_.dropped;
    return;
  }
  if (report.sender) {
    peer_last_sr_ = ntp_middle(report.sender->ntp_time);
    peer_last_sr_arrival_us_ = now_us;
  }
  for (const auto& block : report.reports) {
    if (block.ssrc != ssrc_ || block.last_sr == 0) continue;
    // RFC 3550 §6.4.1: RTT = A - LSR - DLSR, with A and LSR read on our clock.
    const auto sent = std::find_if(sent_reports_.begin(), sent_reports_.end(),
                                   [&](const auto& entry) { return entry.first == block.last_sr; });
    if (sent == sent_reports_.end()) continue;
    const double rtt_us =
        elapsed_us(sent->second, now_us) - block.delay_since_last_sr * 1e6 / 65536;
    if (rtt_us >= 0) receive_.rtt_ms = rtt_us / 1000;
  }
  if (report.bye && remote_ssrc_) remote_bye_ = true;
}

Bytes RtpSession::bye() { return write_rtcp_bye(ssrc_, cname_); }

}  // namespace sotto::media
