// Private to sotto/media: RTP and RTCP (RFC 3550), telephone-events
// (RFC 4733), and the demultiplexing of what arrives on a media port. No I/O.
//
// Everything here reads network input: bounds are checked on every field, a
// malformed packet is an error (Errc::protocol with a short reason for the
// log), never a crash or a read past the buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sotto/base/base.h"

namespace sotto::media {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

// What a datagram on the RTP port is (RFC 7983 / RFC 5761 rules):
// ZRTP: first byte 0x10 and the magic cookie 0x5A525450 at offset 4;
// RTCP: version 2 and packet type 192..223 in the second byte (any marker);
// RTP: version 2 otherwise; anything else is garbage.
enum class PacketKind { rtp, rtcp, zrtp, garbage };
PacketKind classify(ByteView datagram);

struct RtpPacket {
  uint8_t payload_type = 0;  // 0..127
  bool marker = false;
  uint16_t sequence = 0;
  uint32_t timestamp = 0;
  uint32_t ssrc = 0;
  ByteView payload;  // into the parsed buffer (padding and extension removed)
};

// Version 2, CSRC list, header extension and padding honoured and checked
// against the length. At least 12 bytes.
[[nodiscard]] Result<RtpPacket> parse_rtp(ByteView datagram);
// A 12-byte header (no CSRC, no extension) followed by `payload`.
Bytes write_rtp(uint8_t payload_type, bool marker, uint16_t sequence, uint32_t timestamp,
                uint32_t ssrc, ByteView payload);

// --- RTCP

struct ReportBlock {
  uint32_t ssrc = 0;                 // the source this block reports on
  uint8_t fraction_lost = 0;         // /256 since the last report
  int32_t cumulative_lost = 0;       // 24-bit signed
  uint32_t highest_sequence = 0;     // extended
  uint32_t jitter = 0;               // timestamp units
  uint32_t last_sr = 0;              // middle 32 bits of the NTP time of the last SR
  uint32_t delay_since_last_sr = 0;  // 1/65536 s
};

struct SenderInfo {
  uint64_t ntp_time = 0;  // 32.32 fixed point
  uint32_t rtp_timestamp = 0;
  uint32_t packet_count = 0;
  uint32_t octet_count = 0;
};

// The parts of a compound RTCP packet we use; other packet types are skipped.
struct RtcpPacket {
  uint32_t ssrc = 0;                 // of the sender of the SR/RR
  std::optional<SenderInfo> sender;  // SR
  std::vector<ReportBlock> reports;
  bool bye = false;
};

// A compound packet: each part's version must be 2 and its length must fit.
[[nodiscard]] Result<RtcpPacket> parse_rtcp(ByteView datagram);
// SR (when `sender`) or RR, then SDES with CNAME `cname` (compound, RFC 3550 §6.1).
Bytes write_rtcp(uint32_t ssrc, const std::optional<SenderInfo>& sender,
                 const std::vector<ReportBlock>& reports, const std::string& cname);
// RTCP BYE (with an RR first, as compound packets must).
Bytes write_rtcp_bye(uint32_t ssrc, const std::string& cname);

// NTP time (32.32) for a wall-clock time in microseconds since the Unix epoch.
uint64_t ntp_from_unix_micros(int64_t micros);

// --- RFC 4733 telephone-event payload (4 bytes).

struct TelephoneEvent {
  uint8_t event = 0;  // 0-9, 10 '*', 11 '#', 12-15 A-D
  bool end = false;
  uint8_t volume = 10;    // 0..63, -dBm0
  uint16_t duration = 0;  // timestamp units
};
[[nodiscard]] Result<TelephoneEvent> parse_telephone_event(ByteView payload);
Bytes write_telephone_event(const TelephoneEvent& event);
// '0'..'9', '*', '#', 'A'..'D' (either case) -> event code; nullopt otherwise.
std::optional<uint8_t> dtmf_event(char digit);
char dtmf_digit(uint8_t event);  // '?' for codes past 15

// --- The RTP session of one stream: our sequence numbers and timestamps,
// the statistics of what we receive (RFC 3550 A.1, A.3, A.8) and RTT from
// the peer's report blocks. Times are microseconds of a monotonic clock the
// owner chooses (a fake one in tests), plus wall-clock micros for NTP.

struct ReceiveStats {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  int64_t lost = 0;              // cumulative, RFC 3550 (may be negative with duplicates)
  double fraction_lost = 0;      // 0..1 over the last report interval
  double jitter_ms = 0;          // interarrival jitter
  std::optional<double> rtt_ms;  // from the peer's report on our stream
  uint64_t dropped = 0;          // packets refused (wrong SSRC, bad version, ...)
};

struct SendStats {
  uint64_t packets = 0;
  uint64_t bytes = 0;
};

class RtpSession {
 public:
  // `ssrc`: ours (random); `clock_rate`: RTP clock of the codec.
  RtpSession(uint32_t ssrc, uint32_t clock_rate, std::string cname);

  uint32_t ssrc() const { return ssrc_; }
  // Builds the next RTP packet: sequence + 1, `timestamp` as given by the
  // caller (its media clock), and counts it.
  Bytes packet(uint8_t payload_type, bool marker, uint32_t timestamp, ByteView payload);

  // A received packet: locks on the first SSRC seen (after a BYE, or 2 s of
  // silence from it, a new SSRC may take over); packets of another SSRC
  // return false and count as dropped. `arrival_us` for jitter; `rtp_clock_us`
  // the arrival in the media clock's terms is computed from clock_rate.
  bool received(const RtpPacket& packet, int64_t arrival_us);
  std::optional<uint32_t> remote_ssrc() const { return remote_ssrc_; }

  // Our SR (if we sent since the last report) or RR with a block for the
  // remote source; `now_us` monotonic, `wall_us` wall clock for NTP.
  Bytes report(int64_t now_us, int64_t wall_us, uint32_t rtp_timestamp_now);
  // The peer's report: RTT from the block about us (now - LSR - DLSR).
  void received_report(const RtcpPacket& report, int64_t now_us);
  Bytes bye();

  const ReceiveStats& receive_stats() const { return receive_; }
  const SendStats& send_stats() const { return send_; }
  void count_dropped() { ++receive_.dropped; }

 private:
  void start_source(uint32_t ssrc, uint16_t sequence);
  void init_sequence(uint16_t sequence);
  bool update_sequence(uint16_t sequence);
  uint32_t extended_max() const;
  int64_t source_lost() const;

  uint32_t ssrc_;
  uint32_t clock_rate_;
  std::string cname_;
  uint16_t next_sequence_;
  SendStats send_;
  ReceiveStats receive_;
  std::optional<uint32_t> remote_ssrc_;
  bool remote_bye_ = false;  // a new SSRC may take over
  // RFC 3550 A.1 source state
  uint16_t max_seq_ = 0;
  uint32_t cycles_ = 0;
  uint32_t base_seq_ = 0;
  uint32_t bad_seq_ = 0;
  uint32_t probation_ = 0;
  uint32_t expected_prior_ = 0;
  uint64_t received_prior_ = 0;
  uint64_t source_received_ = 0;  // A.1 `received` of the current source
  bool has_transit_ = false;      // A.8: a previous packet to compare with
  int64_t last_heard_us_ = 0;     // the last packet of the remote source, for takeover
  int64_t last_arrival_us_ = 0;
  uint32_t last_timestamp_ = 0;
  double jitter_ = 0;  // timestamp units
  bool sent_since_report_ = false;
  uint32_t last_rtp_sent_ = 0;
  // The last SR from the peer: its middle NTP bits and when it arrived.
  uint32_t peer_last_sr_ = 0;
  int64_t peer_last_sr_arrival_us_ = 0;
  // Our own SRs: middle NTP bits -> when we sent them (for RTT).
  std::vector<std::pair<uint32_t, int64_t>> sent_reports_;
};

}  // namespace sotto::media
