#include "sotto/sdp/sdp.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <string>
#include <utility>

namespace sotto::sdp {
namespace {

constexpr std::size_t kMaxText = 64 * 1024;
constexpr std::size_t kMaxMedia = 16;
constexpr std::size_t kMaxFormats = 128;
constexpr int kTelephoneEventType = 101;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// An unsigned decimal number without sign or spaces, at most `max`.
std::optional<uint64_t> number(std::string_view text, uint64_t max) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  for (char c : text) {
    if (!is_digit(c)) return std::nullopt;
  }
  uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value > max) {
    return std::nullopt;
  }
  return value;
}

// Splits on single spaces; empty fields (double spaces) are kept so that
// callers can refuse them.
std::vector<std::string_view> fields(std::string_view text, std::size_t limit) {
  std::vector<std::string_view> out;
  while (out.size() < limit) {
    const std::size_t space = text.find(' ');
    out.push_back(text.substr(0, space));
    if (space == std::string_view::npos) return out;
    text.remove_prefix(space + 1);
  }
  out.push_back(text);  // one over the limit: the caller refuses
  return out;
}

// RFC 4566 §9 token characters.
bool is_token(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7F) return false;
    switch (c) {
      case '"':
      case '(':
      case ')':
      case ',':
      case '/':
      case ':':
      case ';':
      case '<':
      case '=':
      case '>':
      case '?':
      case '@':
      case '[':
      case '\\':
      case ']':
      case '{':
      case '}':
        return false;
      default:
        break;
    }
  }
  return true;
}

// A transport protocol such as "RTP/AVP" or "UDP/TLS/RTP/SAVPF".
bool is_protocol(std::string_view text) {
  if (text.empty() || text.front() == '/' || text.back() == '/') return false;
  for (char c : text) {
    if (c != '/' && !is_token(std::string_view(&c, 1))) return false;
  }
  return text.find("//") == std::string_view::npos;
}

// A host for c= and o=: an IP literal or a name (RFC 4566 §5.7); multicast
// TTL and count suffixes ("/127") are allowed.
bool is_address(std::string_view text) {
  if (text.empty() || text.size() > 255) return false;
  for (char c : text) {
    if (!(is_hex(c) || (c >= 'g' && c <= 'z') || (c >= 'G' && c <= 'Z') || c == '.' || c == ':' ||
          c == '-' || c == '/' || c == '_')) {
      return false;
    }
  }
  return true;
}

bool is_rtp(std::string_view protocol) { return protocol.find("RTP/") != std::string_view::npos; }

std::optional<Direction> parse_direction(std::string_view name) {
  if (name == "sendrecv") return Direction::sendrecv;
  if (name == "sendonly") return Direction::sendonly;
  if (name == "recvonly") return Direction::recvonly;
  if (name == "inactive") return Direction::inactive;
  return std::nullopt;
}

bool sends(Direction direction) {
  return direction == Direction::sendrecv || direction == Direction::sendonly;
}
bool receives(Direction direction) {
  return direction == Direction::sendrecv || direction == Direction::recvonly;
}
Direction make_direction(bool send, bool receive) {
  if (send && receive) return Direction::sendrecv;
  if (send) return Direction::sendonly;
  if (receive) return Direction::recvonly;
  return Direction::inactive;
}

// RFC 3551 §6 static payload types (audio) that a peer may use without rtpmap.
std::optional<Codec> static_codec(int payload_type) {
  struct Static {
    int type;
    std::string_view name;
    int rate;
  };
  static constexpr std::array<Static, 13> kStatic = {{{0, "PCMU", 8000},
                                                      {3, "GSM", 8000},
                                                      {4, "G723", 8000},
                                                      {5, "DVI4", 8000},
                                                      {6, "DVI4", 16000},
                                                      {7, "LPC", 8000},
                                                      {8, "PCMA", 8000},
                                                      {9, "G722", 8000},
                                                      {10, "L16", 44100},
                                                      {12, "QCELP", 8000},
                                                      {13, "CN", 8000},
                                                      {15, "G728", 8000},
                                                      {18, "G729", 8000}}};
  for (const auto& entry : kStatic) {
    if (entry.type == payload_type) {
      Codec codec;
      codec.payload_type = payload_type;
      codec.name = std::string(entry.name);
      codec.clock_rate = entry.rate;
      codec.channels = payload_type == 10 ? 2 : 1;
      return codec;
    }
  }
  return std::nullopt;
}

bool is_telephone_event(const Codec& codec) { return iequals(codec.name, "telephone-event"); }

bool same_codec(const Codec& a, const Codec& b) {
  return iequals(a.name, b.name) && a.clock_rate == b.clock_rate && a.channels == b.channels;
}

Codec* find_codec(Media& media, int payload_type) {
  for (auto& codec : media.codecs) {
    if (codec.payload_type == payload_type) return &codec;
  }
  return nullptr;
}

Unexpected bad(std::string what) {
  return fail(Errc::protocol, "The session description is malformed: " + std::move(what));
}

// "<nettype> <addrtype> <address>" of c= (and the tail of o=).
Result<std::string> parse_connection(std::string_view value) {
  const auto parts = fields(value, 3);
  if (parts.size() != 3 || parts[0] != "IN" || (parts[1] != "IP4" && parts[1] != "IP6") ||
      !is_address(parts[2])) {
    return bad("bad connection line \"c=" + std::string(value.substr(0, 80)) + "\"");
  }
  return std::string(parts[2]);
}

Result<void> parse_media_line(std::string_view value, Media& media) {
  const auto parts = fields(value, 3 + kMaxFormats);
  if (parts.size() < 4) return bad("short m= line");
  if (parts.size() > 3 + kMaxFormats) return bad("too many formats on an m= line");
  if (!is_token(parts[0])) return bad("bad media kind");
  media.kind = std::string(parts[0]);
  std::string_view port = parts[1];
  if (const std::size_t slash = port.find('/'); slash != std::string_view::npos) {
    if (!number(port.substr(slash + 1), 65535)) return bad("bad port count");
    port = port.substr(0, slash);
  }
  const auto port_number = number(port, 65535);
  if (!port_number) return bad("bad port \"" + std::string(port.substr(0, 20)) + "\"");
  media.port = static_cast<uint16_t>(*port_number);
  if (!is_protocol(parts[2])) return bad("bad media protocol");
  media.protocol = std::string(parts[2]);
  const bool rtp = is_rtp(media.protocol);
  for (std::size_t i = 3; i < parts.size(); ++i) {
    if (rtp) {
      const auto type = number(parts[i], 127);
      if (!type) return bad("bad payload type \"" + std::string(parts[i].substr(0, 20)) + "\"");
      if (find_codec(media, static_cast<int>(*type)) != nullptr) {
        return bad("payload type listed twice");
      }
      Codec codec;
      codec.payload_type = static_cast<int>(*type);
      codec.name.clear();
      if (auto known = static_codec(codec.payload_type)) codec = *known;
      media.codecs.push_back(std::move(codec));
    } else {
      if (!is_token(parts[i])) return bad("bad media format");
      media.formats.emplace_back(parts[i]);
    }
  }
  return {};
}

// a=rtpmap:<pt> <name>/<rate>[/<channels>]
Result<void> parse_rtpmap(std::string_view value, Media& media, std::vector<int>& mapped) {
  const std::size_t space = value.find(' ');
  if (space == std::string_view::npos) return bad("bad rtpmap");
  const auto type = number(value.substr(0, space), 127);
  if (!type) return bad("bad rtpmap payload type");
  Codec* codec = find_codec(media, static_cast<int>(*type));
  if (codec == nullptr) return bad("rtpmap for a payload type the m= line does not list");
  if (std::find(mapped.begin(), mapped.end(), *type) != mapped.end()) {
    return bad("rtpmap repeated for a payload type");
  }
  mapped.push_back(static_cast<int>(*type));
  const std::string_view encoding = value.substr(space + 1);
  const std::size_t first = encoding.find('/');
  if (first == std::string_view::npos) return bad("bad rtpmap encoding");
  const std::string_view name = encoding.substr(0, first);
  std::string_view rest = encoding.substr(first + 1);
  std::string_view channels;
  if (const std::size_t second = rest.find('/'); second != std::string_view::npos) {
    channels = rest.substr(second + 1);
    rest = rest.substr(0, second);
  }
  const auto rate = number(rest, 1000000);
  if (!is_token(name) || !rate || *rate == 0) return bad("bad rtpmap encoding");
  int channel_count = 1;
  if (!channels.empty()) {
    const auto count = number(channels, 255);
    if (!count || *count == 0) return bad("bad rtpmap channels");
    channel_count = static_cast<int>(*count);
  }
  codec->name = std::string(name);
  codec->clock_rate = static_cast<int>(*rate);
  codec->channels = channel_count;
  return {};
}

// An attribute at media level; false when it is not one we model.
Result<bool> parse_media_attribute(std::string_view name, std::string_view value, bool has_value,
                                   Media& media, std::vector<int>& mapped,
                                   std::optional<Direction>& direction) {
  if (auto parsed = parse_direction(name); parsed && !has_value) {
    if (direction) return bad("two direction attributes");
    direction = *parsed;
    return true;
  }
  if (name == "rtcp-mux" && !has_value) {
    media.rtcp_mux = true;
    return true;
  }
  if (!has_value) return false;
  const bool rtp = is_rtp(media.protocol);
  if (name == "rtpmap" && rtp) {
    if (auto result = parse_rtpmap(value, media, mapped); !result)
      return tl::unexpected(result.error());
    return true;
  }
  if (name == "fmtp" && rtp) {
    const std::size_t space = value.find(' ');
    const auto type = number(value.substr(0, space), 127);
    if (!type) return bad("bad fmtp payload type");
    Codec* codec = find_codec(media, static_cast<int>(*type));
    if (codec == nullptr) return bad("fmtp for a payload type the m= line does not list");
    if (!codec->fmtp.empty()) return bad("fmtp repeated for a payload type");
    codec->fmtp =
        space == std::string_view::npos ? std::string() : std::string(value.substr(space + 1));
    return true;
  }
  if (name == "ptime") {
    const auto ptime = number(value, 10000);
    if (!ptime) return bad("bad ptime");
    media.ptime = static_cast<int>(*ptime);
    return true;
  }
  if (name == "rtcp") {
    const auto port = number(value.substr(0, value.find(' ')), 65535);
    if (!port) return bad("bad rtcp port");
    media.rtcp_port = static_cast<uint16_t>(*port);
    return true;
  }
  if (name == "zrtp-hash") {
    if (!valid_zrtp_hash(value)) return bad("bad zrtp-hash");
    if (media.zrtp_hash) return bad("two zrtp-hash attributes");
    std::string hash(value);
    for (char& c : hash) c = ascii_lower(c);
    media.zrtp_hash = std::move(hash);
    return true;
  }
  return false;
}

void append_line(std::string& out, char type, std::string_view value) {
  out += type;
  out += '=';
  out += value;
  out += "\r\n";
}

std::string_view address_type(std::string_view address) {
  return address.find(':') != std::string_view::npos ? "IP6" : "IP4";
}

std::string connection(std::string_view address) {
  return "IN " + std::string(address_type(address)) + " " + std::string(address);
}

const Media* first_audio(const Session& session, std::size_t* index = nullptr) {
  for (std::size_t i = 0; i < session.media.size(); ++i) {
    const Media& media = session.media[i];
    if (media.kind == "audio" && media.port != 0 && media.protocol == "RTP/AVP") {
      if (index != nullptr) *index = i;
      return &media;
    }
  }
  return nullptr;
}

}  // namespace

std::string_view to_string(Direction direction) {
  switch (direction) {
    case Direction::sendrecv:
      return "sendrecv";
    case Direction::sendonly:
      return "sendonly";
    case Direction::recvonly:
      return "recvonly";
    case Direction::inactive:
      return "inactive";
  }
  return "sendrecv";
}

bool valid_zrtp_hash(std::string_view value) {
  // RFC 6189 §8.1: zrtp-version SP zrtp-hash-value (SHA-256, 64 hex digits).
  if (value.size() != 5 + 64 || !value.starts_with("1.10 ")) return false;
  for (char c : value.substr(5)) {
    if (!is_hex(c)) return false;
  }
  return true;
}

Result<Session> parse(std::string_view text) {
  if (text.size() > kMaxText) return bad("longer than 64 kB");
  Session session;
  bool seen_v = false;
  bool seen_o = false;
  bool seen_s = false;
  bool seen_session_c = false;
  std::optional<Direction> session_direction;
  std::vector<std::optional<Direction>> media_directions;
  std::vector<int> mapped;  // payload types with an rtpmap, current m= section
  bool media_c = false;
  bool trailing_blank = false;

  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t newline = text.find('\n', pos);
    const std::size_t end = newline == std::string_view::npos ? text.size() : newline;
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      trailing_blank = true;
      continue;
    }
    if (trailing_blank) return bad("blank line inside");
    for (char c : line) {
      const auto byte = static_cast<unsigned char>(c);
      if ((byte < 0x20 && c != '\t') || byte == 0x7F) return bad("control character");
    }
    if (line.size() < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z') {
      return bad("line \"" + std::string(line.substr(0, 40)) + "\"");
    }
    const char type = line[0];
    const std::string_view value = line.substr(2);
    // RFC 4566 §5: v=, o=, s= first and in that order.
    if (!seen_v) {
      if (type != 'v' || value != "0") return bad("it does not start with v=0");
      seen_v = true;
      continue;
    }
    if (!seen_o) {
      if (type != 'o') return bad("o= must follow v=");
      const auto parts = fields(value, 6);
      if (parts.size() != 6 || parts[0].empty()) return bad("bad o= line");
      const auto id = number(parts[1], UINT64_MAX);
      const auto version = number(parts[2], UINT64_MAX);
      if (!id || !version) return bad("bad o= session id or version");
      auto address = parse_connection(std::string(parts[3]) + " " + std::string(parts[4]) + " " +
                                      std::string(parts[5]));
      if (!address) return bad("bad o= address");
      session.origin_user = std::string(parts[0]);
      session.session_id = *id;
      session.session_version = *version;
      session.origin_address = std::move(*address);
      seen_o = true;
      continue;
    }
    if (!seen_s) {
      if (type != 's') return bad("s= must follow o=");
      session.name = std::string(value);
      seen_s = true;
      continue;
    }
    const bool in_media = !session.media.empty();
    switch (type) {
      case 'm': {
        if (session.media.size() >= kMaxMedia) return bad("more than 16 m= lines");
        Media media;
        if (auto result = parse_media_line(value, media); !result) {
          return tl::unexpected(result.error());
        }
        session.media.push_back(std::move(media));
        media_directions.emplace_back();
        mapped.clear();
        media_c = false;
        break;
      }
      case 'c': {
        auto address = parse_connection(value);
        if (!address) return tl::unexpected(address.error());
        if (in_media) {
          if (media_c) return bad("two c= lines for one m= line");
          media_c = true;
          session.media.back().address = std::move(*address);
        } else {
          if (seen_session_c) return bad("two session c= lines");
          seen_session_c = true;
          session.address = std::move(*address);
        }
        break;
      }
      case 'a': {
        const std::size_t colon = value.find(':');
        const bool has_value = colon != std::string_view::npos;
        const std::string_view name = value.substr(0, colon);
        const std::string_view attribute_value =
            has_value ? value.substr(colon + 1) : std::string_view{};
        if (!is_token(name)) return bad("bad attribute name");
        if (in_media) {
          auto modelled =
              parse_media_attribute(name, attribute_value, has_value, session.media.back(), mapped,
                                    media_directions.back());
          if (!modelled) return tl::unexpected(modelled.error());
          if (!*modelled) session.media.back().other_attributes.emplace_back(value);
        } else if (auto direction = parse_direction(name); direction && !has_value) {
          if (session_direction) return bad("two session direction attributes");
          session_direction = *direction;
        } else {
          session.other_attributes.emplace_back(value);
        }
        break;
      }
      case 'i':
      case 'b':
      case 'k':
        break;  // allowed at both levels; not modelled
      case 'u':
      case 'e':
      case 'p':
      case 't':
      case 'r':
      case 'z':
        if (in_media) return bad(std::string(1, type) + "= inside a media section");
        break;
      default:
        return bad("unknown line type " + std::string(1, type) + "=");
    }
  }
  if (!seen_s) return bad("v=, o= and s= are required");
  if (session.media.empty()) return bad("no m= line");
  session.direction = session_direction.value_or(Direction::sendrecv);
  for (std::size_t i = 0; i < session.media.size(); ++i) {
    session.media[i].direction = media_directions[i].value_or(session.direction);
  }
  return session;
}

std::string to_string(const Session& session) {
  std::string out;
  append_line(out, 'v', "0");
  append_line(
      out, 'o',
      session.origin_user + " " + std::to_string(session.session_id) + " " +
          std::to_string(session.session_version) + " " +
          connection(session.origin_address.empty() ? session.address : session.origin_address));
  append_line(out, 's', session.name.empty() ? "-" : session.name);
  if (!session.address.empty()) append_line(out, 'c', connection(session.address));
  append_line(out, 't', "0 0");
  for (const auto& attribute : session.other_attributes) append_line(out, 'a', attribute);
  if (session.direction != Direction::sendrecv) append_line(out, 'a', to_string(session.direction));
  for (const Media& media : session.media) {
    std::string line = media.kind + " " + std::to_string(media.port) + " " + media.protocol;
    if (is_rtp(media.protocol)) {
      for (const auto& codec : media.codecs) line += " " + std::to_string(codec.payload_type);
    } else {
      for (const auto& format : media.formats) line += " " + format;
    }
    append_line(out, 'm', line);
    if (!media.address.empty() && media.address != session.address) {
      append_line(out, 'c', connection(media.address));
    }
    if (is_rtp(media.protocol)) {
      for (const auto& codec : media.codecs) {
        if (codec.name.empty()) continue;
        std::string rtpmap = "rtpmap:" + std::to_string(codec.payload_type) + " " + codec.name +
                             "/" + std::to_string(codec.clock_rate);
        if (codec.channels != 1) rtpmap += "/" + std::to_string(codec.channels);
        append_line(out, 'a', rtpmap);
        if (!codec.fmtp.empty()) {
          append_line(out, 'a', "fmtp:" + std::to_string(codec.payload_type) + " " + codec.fmtp);
        }
      }
    }
    if (media.ptime > 0) append_line(out, 'a', "ptime:" + std::to_string(media.ptime));
    if (media.rtcp_port) append_line(out, 'a', "rtcp:" + std::to_string(*media.rtcp_port));
    if (media.rtcp_mux) append_line(out, 'a', "rtcp-mux");
    if (media.zrtp_hash) append_line(out, 'a', "zrtp-hash:" + *media.zrtp_hash);
    for (const auto& attribute : media.other_attributes) append_line(out, 'a', attribute);
    append_line(out, 'a', to_string(media.direction));
  }
  return out;
}

std::string media_address(const Session& session, const Media& media) {
  return media.address.empty() ? session.address : media.address;
}

Direction effective_direction(const Session& session, const Media& media) {
  // parse() already gave media without a direction of its own the session's;
  // an explicit media-level attribute wins over the session's.
  Direction direction = media.direction;
  // RFC 3264 §8.4 / RFC 2543: c=0.0.0.0 means "do not send to me".
  if (media_address(session, media) == "0.0.0.0") {
    direction = make_direction(sends(direction), false);
  }
  return direction;
}

Direction answer_direction(Direction offered, Direction wanted) {
  // RFC 3264 §6.1: we may send what they receive, and receive what they send.
  return make_direction(sends(wanted) && receives(offered), receives(wanted) && sends(offered));
}

std::vector<Codec> LocalMedia::default_codecs() {
  return {Codec{96, "opus", 48000, 2, "useinbandfec=1; usedtx=1"}, Codec{0, "PCMU", 8000, 1, {}},
          Codec{8, "PCMA", 8000, 1, {}}};
}

Session make_offer(const LocalMedia& local, Direction direction, uint64_t session_id,
                   uint64_t version) {
  Session session;
  session.session_id = session_id;
  session.session_version = version;
  session.origin_address = local.address;
  session.address = local.address;
  Media media;
  media.port = local.audio_port;
  media.codecs = local.codecs;
  if (local.telephone_event) {
    int type = kTelephoneEventType;
    const auto taken = [&](int candidate) {
      return std::any_of(media.codecs.begin(), media.codecs.end(),
                         [&](const Codec& codec) { return codec.payload_type == candidate; });
    };
    while (taken(type) && type < 127) ++type;
    if (!taken(type)) media.codecs.push_back(Codec{type, "telephone-event", 8000, 1, "0-16"});
  }
  media.direction = direction;
  media.zrtp_hash = local.zrtp_hash;
  session.media.push_back(std::move(media));
  return session;
}

Result<std::pair<Session, Negotiated>> make_answer(const Session& offer, const LocalMedia& local,
                                                   Direction wanted, uint64_t session_id,
                                                   uint64_t version) {
  for (const auto& media : offer.media) {
    if (media.zrtp_hash && !valid_zrtp_hash(*media.zrtp_hash)) {
      return fail(Errc::protocol, "The offer carries a malformed a=zrtp-hash");
    }
  }
  std::size_t audio_index = 0;
  const Media* audio = first_audio(offer, &audio_index);
  if (audio == nullptr) return fail(Errc::not_supported, "no codec in common (no audio stream)");

  Media answer_media;
  answer_media.port = local.audio_port;
  std::optional<Codec> chosen;
  std::optional<int> telephone_event;
  for (const auto& offered : audio->codecs) {
    if (is_telephone_event(offered)) {
      if (local.telephone_event && offered.clock_rate == 8000 && !telephone_event) {
        telephone_event = offered.payload_type;
        answer_media.codecs.push_back(offered);
      }
      continue;
    }
    const auto ours = std::find_if(local.codecs.begin(), local.codecs.end(),
                                   [&](const Codec& codec) { return same_codec(codec, offered); });
    if (ours == local.codecs.end()) continue;
    Codec codec = offered;
    codec.fmtp = ours->fmtp;
    if (!chosen) chosen = codec;
    answer_media.codecs.push_back(std::move(codec));
  }
  if (!chosen) return fail(Errc::not_supported, "no codec in common");
  // The chosen codec first, telephone-event after the audio codecs.
  std::stable_partition(answer_media.codecs.begin(), answer_media.codecs.end(),
                        [](const Codec& codec) { return !is_telephone_event(codec); });

  const Direction direction = answer_direction(effective_direction(offer, *audio), wanted);
  answer_media.direction = direction;
  answer_media.zrtp_hash = local.zrtp_hash;

  Session answer;
  answer.session_id = session_id;
  answer.session_version = version;
  answer.origin_address = local.address;
  answer.address = local.address;
  for (std::size_t i = 0; i < offer.media.size(); ++i) {
    if (i == audio_index) {
      answer.media.push_back(answer_media);
      continue;
    }
    // RFC 3264 §6: refused with port 0, the formats listed again.
    const Media& other = offer.media[i];
    Media refused;
    refused.kind = other.kind;
    refused.port = 0;
    refused.protocol = other.protocol;
    refused.formats = other.formats;
    for (const auto& codec : other.codecs) {
      Codec bare;
      bare.payload_type = codec.payload_type;
      refused.codecs.push_back(std::move(bare));
    }
    refused.direction = Direction::inactive;
    answer.media.push_back(std::move(refused));
  }

  Negotiated negotiated;
  negotiated.codec = *chosen;
  negotiated.telephone_event_type = telephone_event;
  negotiated.remote_address = media_address(offer, *audio);
  negotiated.remote_port = audio->port;
  negotiated.remote_rtcp_port = audio->rtcp_port;
  negotiated.direction = direction;
  negotiated.remote_zrtp_hash = audio->zrtp_hash;
  return std::make_pair(std::move(answer), std::move(negotiated));
}

Result<Negotiated> read_answer(const Session& offer, const Session& answer) {
  if (offer.media.size() != answer.media.size()) {
    return fail(Errc::protocol, "The answer does not have one m= line per offered m= line");
  }
  std::size_t index = 0;
  const Media* offered = first_audio(offer, &index);
  if (offered == nullptr) return fail(Errc::protocol, "Our offer has no audio stream");
  const Media& media = answer.media[index];
  if (media.kind != offered->kind || media.protocol != offered->protocol) {
    return fail(Errc::protocol, "The answer changes the audio stream's kind or protocol");
  }
  if (media.port == 0) return fail(Errc::not_supported, "The peer refused the audio stream");
  if (media.zrtp_hash && !valid_zrtp_hash(*media.zrtp_hash)) {
    return fail(Errc::protocol, "The answer carries a malformed a=zrtp-hash");
  }
  Negotiated negotiated;
  std::optional<Codec> chosen;
  for (const auto& codec : media.codecs) {
    const bool was_offered =
        std::any_of(offered->codecs.begin(), offered->codecs.end(),
                    [&](const Codec& ours) { return same_codec(ours, codec); });
    if (is_telephone_event(codec)) {
      if (was_offered && !negotiated.telephone_event_type) {
        negotiated.telephone_event_type = codec.payload_type;
      }
      continue;
    }
    if (!chosen) {
      if (!was_offered) return fail(Errc::protocol, "The answer picks a codec we did not offer");
      chosen = codec;
    }
  }
  if (!chosen) return fail(Errc::protocol, "The answer has no codec");
  negotiated.codec = *chosen;
  negotiated.remote_address = media_address(answer, media);
  if (negotiated.remote_address.empty()) {
    return fail(Errc::protocol, "The answer has no connection address");
  }
  negotiated.remote_port = media.port;
  negotiated.remote_rtcp_port = media.rtcp_port;
  negotiated.direction =
      answer_direction(effective_direction(answer, media), effective_direction(offer, *offered));
  negotiated.remote_zrtp_hash = media.zrtp_hash;
  return negotiated;
}

}  // namespace sotto::sdp
