#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <map>
#include <string>
#include <string_view>

#include "sotto/media/codec.h"

namespace sotto::media {
namespace {

constexpr std::string_view kLog = "media";
constexpr double kMinTargetMs = 20;
constexpr double kMaxTargetMs = 300;
constexpr double kFallMsPerSecond = 12.5;    // how fast the target comes down
constexpr std::size_t kTransitWindow = 128;  // packets (about 2.5 s of speech)
constexpr double kPercentile = 0.95;
constexpr int64_t kDriftHoldUs = 1'000'000;  // above target this long: drop a frame
constexpr int64_t kIdleUs = 200'000;         // nothing for this long: restart
constexpr int64_t kMaxSequenceJump = 1000;   // farther: a new source (RFC 3550 A.1)
constexpr double kDiscontinuityMs = 2000;    // a timestamp jump: a new timeline
constexpr std::size_t kMaxPackets = 200;
constexpr std::size_t kMaxBytes = 256 * 1024;
constexpr std::size_t kRememberPlayed = 64;
constexpr int kDropLookahead = 3;

}  // namespace

struct JitterBuffer::Impl {
  struct Packet {
    int64_t timestamp = 0;
    std::vector<uint8_t> payload;
    bool drop = false;  // chosen to be skipped to catch up
  };

  uint32_t clock_rate;
  uint32_t step;
  double frame_ms;

  std::map<int64_t, Packet> packets;  // by extended sequence number
  std::size_t bytes = 0;

  // Sequence and timestamp extension.
  bool have_reference = false;
  int64_t highest_sequence = 0;
  int64_t reference_timestamp = 0;
  std::optional<uint16_t> probation;

  // Transit times (arrival - timestamp) in ms, oldest first.
  std::deque<double> transits;
  double base_ms = 0;  // the smallest transit in the window
  double raw_target_ms = kMinTargetMs;
  double target_ms = kMinTargetMs;

  // Playout.
  bool playing = false;
  std::optional<int64_t> floor_sequence;  // lower ones were played or given up
  int64_t play_timestamp = 0;             // the frame the next pop plays
  int64_t covered_until = 0;              // audio already handed out up to here
  int64_t last_arrival_us = 0;
  std::optional<int64_t> last_pop_us;
  std::optional<int64_t> above_since_us;
  std::deque<int64_t> played;

  Stats stats;

  Impl(uint32_t rate, uint32_t frame_step)
      : clock_rate(std::max<uint32_t>(rate, 1)),
        step(std::max<uint32_t>(frame_step, 1)),
        frame_ms(1000.0 * step / clock_rate) {}

  double timestamp_ms(int64_t timestamp) const {
    return static_cast<double>(timestamp) * 1000.0 / clock_rate;
  }

  // How long after its earliest possible arrival the frame due now plays.
  double delay_ms(int64_t now_us, int64_t timestamp) const {
    return static_cast<double>(now_us) / 1000.0 - base_ms - timestamp_ms(timestamp);
  }

  void clear_schedule() {
    packets.clear();
    bytes = 0;
    playing = false;
    above_since_us.reset();
  }

  void restart() {
    clear_schedule();
    have_reference = false;
    probation.reset();
    transits.clear();
    base_ms = 0;
    raw_target_ms = target_ms = kMinTargetMs;
    floor_sequence.reset();
    played.clear();
    last_pop_us.reset();
  }

  void note_transit(double transit) {
    transits.push_back(transit);
    if (transits.size() > kTransitWindow) transits.pop_front();
    base_ms = *std::min_element(transits.begin(), transits.end());
    std::vector<double> deviations(transits.begin(), transits.end());
    const auto rank = static_cast<std::size_t>(
        std::ceil(kPercentile * static_cast<double>(deviations.size())) - 1);
    std::nth_element(deviations.begin(), deviations.begin() + static_cast<std::ptrdiff_t>(rank),
                     deviations.end());
    raw_target_ms = std::clamp(deviations[rank] - base_ms + frame_ms, kMinTargetMs, kMaxTargetMs);
    target_ms = std::max(target_ms, raw_target_ms);  // up at once
  }

  void erase_oldest() {
    auto oldest = packets.begin();
    bytes -= oldest->second.payload.size();
    floor_sequence = std::max(floor_sequence.value_or(oldest->first), oldest->first + 1);
    if (playing) play_timestamp = std::max(play_timestamp, oldest->second.timestamp + step);
    packets.erase(oldest);
    ++stats.dropped_for_drift;
  }

  void bound_memory() {
    while (!packets.empty() &&
           (packets.size() > kMaxPackets || bytes > kMaxBytes ||
            packets.rbegin()->second.timestamp - packets.begin()->second.timestamp >
                static_cast<int64_t>(clock_rate))) {
      erase_oldest();
      log::debug(kLog, "jitter buffer full: oldest packet dropped");
    }
  }

  void push(uint16_t sequence, uint32_t timestamp, std::span<const uint8_t> payload,
            int64_t arrival_us) {
    if (have_reference) {
      const int64_t jump = static_cast<int16_t>(
          static_cast<uint16_t>(sequence - static_cast<uint16_t>(highest_sequence)));
      if (std::abs(jump) > kMaxSequenceJump) {
        if (probation && static_cast<uint16_t>(*probation + 1) == sequence) {
          log::debug(kLog, "RTP sequence restarted: jitter buffer resynchronised");
          restart();
        } else {
          probation = sequence;
          log::debug(kLog, "RTP sequence jumped: packet held on probation and dropped");
          return;
        }
      }
    }
    if (!have_reference) {
      have_reference = true;
      highest_sequence = sequence;
      reference_timestamp = timestamp;
    }
    probation.reset();
    const int64_t ext_sequence =
        highest_sequence + static_cast<int16_t>(static_cast<uint16_t>(
                               sequence - static_cast<uint16_t>(highest_sequence)));
    const int64_t ext_timestamp =
        reference_timestamp +
        static_cast<int32_t>(timestamp - static_cast<uint32_t>(reference_timestamp));
    if (ext_sequence > highest_sequence) {
      highest_sequence = ext_sequence;
      reference_timestamp = ext_timestamp;
    }

    if (packets.contains(ext_sequence) ||
        std::find(played.begin(), played.end(), ext_sequence) != played.end()) {
      ++stats.duplicates;
      return;
    }

    const double transit = static_cast<double>(arrival_us) / 1000.0 - timestamp_ms(ext_timestamp);
    if (!transits.empty() && std::abs(transit - base_ms) > kDiscontinuityMs) {
      log::debug(kLog, "RTP timestamps jumped: jitter buffer restarts its schedule");
      clear_schedule();
      transits.clear();
      floor_sequence = ext_sequence;
    }
    note_transit(transit);
    last_arrival_us = arrival_us;

    const bool behind = floor_sequence && ext_sequence < *floor_sequence;
    const bool overdue = playing && ext_timestamp < play_timestamp;
    if (behind || overdue) {
      ++stats.late;
      if (log::enabled(log::Level::debug)) {
        log::debug(kLog, "RTP packet " + std::to_string(sequence) + " arrived late: dropped");
      }
      return;
    }
    bytes += payload.size();
    packets.emplace(ext_sequence,
                    Packet{ext_timestamp, std::vector<uint8_t>(payload.begin(), payload.end())});
    bound_memory();
  }

  // Marks a frame to skip, preferring the smallest (silence, DTX) of the
  // next few; in a silent gap the gap itself is shortened.
  void drop_one(bool in_gap) {
    above_since_us.reset();
    if (in_gap) {
      ++stats.dropped_for_drift;
      play_timestamp += step;
      return;
    }
    Packet* smallest = nullptr;
    int looked = 0;
    for (auto& [sequence, packet] : packets) {
      if (looked++ == kDropLookahead) break;
      if (packet.drop) return;  // one is pending already
      if (!smallest || packet.payload.size() < smallest->payload.size()) smallest = &packet;
    }
    if (smallest) smallest->drop = true;
    if (smallest) ++stats.dropped_for_drift;
  }

  Frame take(std::map<int64_t, Packet>::iterator it) {
    Frame frame;
    frame.kind = Frame::audio;
    frame.payload = std::move(it->second.payload);
    bytes -= frame.payload.size();
    floor_sequence = it->first + 1;
    played.push_back(it->first);
    if (played.size() > kRememberPlayed) played.pop_front();
    covered_until = it->second.timestamp + step;
    auto following = std::next(it);
    if (following != packets.end() && following->first == it->first + 1 &&
        following->second.timestamp > it->second.timestamp) {
      // A packet may hold more than one frame (a longer ptime).
      covered_until = std::min<int64_t>(following->second.timestamp,
                                        it->second.timestamp + 6 * static_cast<int64_t>(step));
    }
    packets.erase(it);
    play_timestamp += step;
    return frame;
  }

  Frame lost(std::optional<std::vector<uint8_t>> next, bool advance) {
    ++stats.concealed;
    Frame frame;
    frame.kind = Frame::lost;
    frame.next = std::move(next);
    if (advance) play_timestamp += step;
    return frame;
  }

  Frame pop(int64_t now_us) {
    if (last_pop_us && now_us > *last_pop_us) {
      const double elapsed_s = static_cast<double>(now_us - *last_pop_us) / 1e6;
      target_ms = std::max(raw_target_ms, target_ms - kFallMsPerSecond * elapsed_s);
    }
    last_pop_us = now_us;

    if (!playing) {
      if (packets.empty()) return {};
      const auto& first = packets.begin()->second;
      if (delay_ms(now_us, first.timestamp) < target_ms) return {};
      playing = true;
      play_timestamp = covered_until = first.timestamp;
      floor_sequence = packets.begin()->first;
      above_since_us.reset();
    }

    if (covered_until > play_timestamp) {
      play_timestamp += step;
      return {};  // the previous packet's audio still plays
    }

    if (packets.empty()) {
      if (now_us - last_arrival_us >= kIdleUs) {
        playing = false;  // DTX or hold: silence, and start afresh later
        above_since_us.reset();
        return {};
      }
      return lost(std::nullopt, delay_ms(now_us, play_timestamp) >= target_ms - frame_ms / 2);
    }

    const double delay = delay_ms(now_us, play_timestamp);
    const bool in_gap = packets.begin()->second.timestamp > play_timestamp && floor_sequence &&
                        packets.begin()->first == *floor_sequence;
    if (delay > target_ms + frame_ms) {
      if (!above_since_us) above_since_us = now_us;
      if (now_us - *above_since_us >= kDriftHoldUs) drop_one(in_gap);
    } else {
      above_since_us.reset();
    }
    if (delay < target_ms - frame_ms / 2) {
      return lost(std::nullopt, false);  // wait: the target went up
    }

    while (!packets.empty() && packets.begin()->second.drop &&
           packets.begin()->second.timestamp <= play_timestamp) {
      auto skipped = packets.begin();
      bytes -= skipped->second.payload.size();
      floor_sequence = skipped->first + 1;
      packets.erase(skipped);
      play_timestamp += step;
    }
    if (packets.empty()) return lost(std::nullopt, true);

    auto first = packets.begin();
    if (first->second.timestamp <= play_timestamp) return take(first);
    if (first->first <= *floor_sequence) {
      play_timestamp += step;
      return {};  // nothing missing: the sender paused (DTX)
    }
    // A packet is missing: conceal it, with the following one for FEC.
    floor_sequence = *floor_sequence + 1;
    std::optional<std::vector<uint8_t>> next;
    if (first->second.timestamp <= play_timestamp + step) next = first->second.payload;
    return lost(std::move(next), true);
  }

  Stats snapshot() const {
    Stats out = stats;
    out.target_ms = target_ms;
    if (!packets.empty()) {
      const int64_t start = playing ? play_timestamp : packets.begin()->second.timestamp;
      out.current_ms = std::max(
          0.0, timestamp_ms(packets.rbegin()->second.timestamp + step) - timestamp_ms(start));
    }
    return out;
  }
};

JitterBuffer::JitterBuffer(uint32_t clock_rate, uint32_t step)
    : impl_(std::make_shared<Impl>(clock_rate, step)) {}

void JitterBuffer::push(uint16_t sequence, uint32_t timestamp, std::span<const uint8_t> payload,
                        int64_t arrival_us) {
  impl_->push(sequence, timestamp, payload, arrival_us);
}

JitterBuffer::Frame JitterBuffer::pop(int64_t now_us) { return impl_->pop(now_us); }

JitterBuffer::Stats JitterBuffer::stats() const { return impl_->snapshot(); }

void JitterBuffer::reset() { impl_->restart(); }

}  // namespace sotto::media
