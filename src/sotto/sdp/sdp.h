// sotto/sdp: our SDP model (RFC 4566) and offer/answer (RFC 3264), no I/O.
//
// parse() is strict where libosip2's sdp parser is lenient: a port that is not
// a number in 0..65535, a payload type outside 0..127, a missing v=/o=/s=/m=
// line order violation, an rtpmap for a payload type the m-line does not list,
// or an a=zrtp-hash that is not "<version> <64 hex digits>" is an error
// (Errc::protocol, with a message for people and the log). Unknown attributes
// and media kinds are kept, not refused. Input comes from the network: never
// crash, never read past the text, bounded work per byte.
//
// Used by sotto/app for calls: the SIP layer carries SDP as opaque bodies.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sotto/base/base.h"

namespace sotto::sdp {

enum class Direction { sendrecv, sendonly, recvonly, inactive };
std::string_view to_string(Direction direction);

struct Codec {
  int payload_type = 0;  // 0..127
  std::string name;  // "PCMU", "opus", "telephone-event" (as written; compare case-insensitively)
  int clock_rate = 8000;
  int channels = 1;
  std::string fmtp;  // the a=fmtp parameters for this payload type, if any
  friend bool operator==(const Codec&, const Codec&) = default;
};

struct Media {
  std::string kind = "audio";        // m=<kind>
  uint16_t port = 0;                 // 0: the stream is refused / disabled
  std::string protocol = "RTP/AVP";  // m=... <protocol>
  std::string address;               // this m-line's c= address; empty: the session's
  std::vector<Codec> codecs;         // in m-line order; static types get an implied rtpmap
  std::vector<std::string> formats;  // the raw format list for non-RTP kinds
  Direction direction = Direction::sendrecv;
  std::optional<std::string> zrtp_hash;  // a=zrtp-hash value, "1.10 <64 lowercase hex>"
  std::optional<uint16_t> rtcp_port;     // a=rtcp
  bool rtcp_mux = false;
  int ptime = 0;  // a=ptime, 0 when absent
  // Attributes we do not model, as "name" or "name:value", in order.
  std::vector<std::string> other_attributes;
};

struct Session {
  std::string origin_user = "-";
  uint64_t session_id = 0;
  uint64_t session_version = 0;
  std::string origin_address;                 // o= address (IP4/IP6 decided from its form)
  std::string name = "-";                     // s=
  std::string address;                        // session-level c= address; empty when absent
  Direction direction = Direction::sendrecv;  // session-level direction attribute
  std::vector<Media> media;
  // Session-level attributes we do not model, as "name" or "name:value".
  std::vector<std::string> other_attributes;
};

// Strict parse of an SDP body (CRLF or LF line ends). At most 64 kB of text,
// 16 m-lines and 128 codecs per m-line; more is an error.
[[nodiscard]] Result<Session> parse(std::string_view text);
// CRLF line ends; v=0, o=, s=, c=, t=0 0, then each m-line with c= (when its
// address differs from the session's), a=rtpmap for every codec (also static
// ones), a=fmtp, a=ptime, a=rtcp, a=rtcp-mux, a=zrtp-hash, other attributes,
// and the direction attribute.
std::string to_string(const Session& session);

// "1.10 " followed by 64 hex digits (RFC 6189 §8.1).
bool valid_zrtp_hash(std::string_view value);

// The address where the media of `media` goes (its own c=, else the
// session's); "0.0.0.0" (RFC 2543 hold) is returned as is.
std::string media_address(const Session& session, const Media& media);
// The direction in effect for `media` (its own attribute, else the session's;
// a connection address of 0.0.0.0 counts as inactive for sending).
Direction effective_direction(const Session& session, const Media& media);

// --- Offer / answer (RFC 3264), audio only for now.

struct LocalMedia {
  std::string address;  // our IP for c= and o=
  uint16_t audio_port = 0;
  // Our codecs in order of preference (payload types are ours in offers).
  std::vector<Codec> codecs = default_codecs();
  bool telephone_event = true;  // offer/accept RFC 4733 telephone-event/8000
  std::optional<std::string> zrtp_hash;

  // opus/48000/2 (96, "useinbandfec=1; usedtx=1"), PCMU (0), PCMA (8).
  static std::vector<Codec> default_codecs();
};

// What both sides agreed on for the audio stream.
struct Negotiated {
  Codec codec;                              // the first common codec, peer's payload type
  std::optional<int> telephone_event_type;  // peer's payload type for DTMF
  std::string remote_address;               // where to send RTP
  uint16_t remote_port = 0;
  std::optional<uint16_t> remote_rtcp_port;
  Direction direction = Direction::sendrecv;  // ours: what we may do
  std::optional<std::string> remote_zrtp_hash;
};

// An offer: one audio m-line (RTP/AVP) with our codecs, telephone-event
// (payload type 101) and a=zrtp-hash when set, in direction `direction`
// (sendonly to put a call on hold, inactive when the peer holds too).
Session make_offer(const LocalMedia& local, Direction direction, uint64_t session_id,
                   uint64_t version);

// Our answer to `offer`: the first audio m-line gets the codecs both support
// (in the offerer's order, the offerer's payload types) plus telephone-event
// if offered; the direction is the answer to the offered one limited by
// `wanted` (offer sendonly -> recvonly, inactive -> inactive, ...); other
// m-lines are refused with port 0. Errc::not_supported "no codec in common"
// (the SIP layer answers 488) when the audio m-line has no common codec or
// there is no audio m-line; Errc::protocol for a bogus zrtp-hash.
[[nodiscard]] Result<std::pair<Session, Negotiated>> make_answer(const Session& offer,
                                                                 const LocalMedia& local,
                                                                 Direction wanted,
                                                                 uint64_t session_id,
                                                                 uint64_t version);

// Reads the peer's answer to our `offer`: the codec must be one we offered,
// the m-line count must match. Errc::protocol otherwise.
[[nodiscard]] Result<Negotiated> read_answer(const Session& offer, const Session& answer);

// The direction that answers `offered` for a side that wants `wanted`.
Direction answer_direction(Direction offered, Direction wanted);

}  // namespace sotto::sdp
