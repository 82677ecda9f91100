// libFuzzer target for ZRTP packets off the network (sotto::media::ZrtpChannel
// over bzrtp). Invariant: nothing crashes, whatever arrives in whatever state.
//
// Input: one control byte, then packets framed as [length: 2 bytes BE][bytes].
//   control bit 0x01: first run a real handshake between A and B for
//                     (control >> 2) steps of 10 ms, so that B is in a later
//                     state (Commit sent, DHPart, Confirm...) when the fuzzed
//                     packets arrive; otherwise B is freshly started.
//   control bit 0x02: repair each fuzzed packet (header, cookie, preamble,
//                     length field, CRC) so that it passes our checks and
//                     reaches bzrtp's parser and state machine.
// Between packets B ticks and A's real packets keep flowing.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "sotto/media/zrtp.h"

namespace {

using sotto::media::ZrtpChannel;
using sotto::media::ZrtpConfig;
using Bytes = std::vector<uint8_t>;

uint32_t crc32c(const uint8_t* data, std::size_t size) {
  uint32_t crc = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < size; ++i) {
    crc ^= data[i];
    for (int k = 0; k < 8; ++k) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return ~crc;
}

void repair(Bytes& packet) {
  if (packet.size() < 28) packet.resize(28);
  packet.resize(packet.size() & ~std::size_t{3});
  packet[0] = 0x10;
  packet[1] = 0x00;
  packet[4] = 0x5a;
  packet[5] = 0x52;
  packet[6] = 0x54;
  packet[7] = 0x50;
  packet[12] = 0x50;
  packet[13] = 0x5a;
  const std::size_t words = (packet.size() - 16) / 4;
  packet[14] = static_cast<uint8_t>(words >> 8);
  packet[15] = static_cast<uint8_t>(words);
  const uint32_t crc = crc32c(packet.data(), packet.size() - 4);
  for (int i = 0; i < 4; ++i) packet[packet.size() - 4 + i] = static_cast<uint8_t>(crc >> (8 * i));
}

ZrtpConfig config(uint32_t ssrc) {
  ZrtpConfig out;
  out.self_uri = ssrc == 1 ? "alice@example.org" : "bob@example.org";
  out.peer_uri = ssrc == 1 ? "bob@example.org" : "alice@example.org";
  out.ssrc = ssrc;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t control = data[0];
  ++data;
  --size;

  std::deque<Bytes> to_a;
  std::deque<Bytes> to_b;
  ZrtpChannel::Callbacks callbacks_a;
  callbacks_a.send = [&to_b](Bytes packet) { to_b.push_back(std::move(packet)); };
  ZrtpChannel::Callbacks callbacks_b;
  callbacks_b.send = [&to_a](Bytes packet) { to_a.push_back(std::move(packet)); };
  auto a = ZrtpChannel::create(config(1), std::move(callbacks_a));
  auto b = ZrtpChannel::create(config(2), std::move(callbacks_b));
  if (!a || !b) __builtin_trap();

  int64_t now = 1'000'000;
  auto exchange = [&] {
    (*a)->tick(now);
    (*b)->tick(now);
    while (!to_a.empty()) {
      (void)(*a)->on_packet(to_a.front());
      to_a.pop_front();
    }
    while (!to_b.empty()) {
      (void)(*b)->on_packet(to_b.front());
      to_b.pop_front();
    }
    now += 10;
  };

  (*b)->start(now);
  if (control & 0x01) {
    (*a)->start(now);
    for (int step = 0; step < (control >> 2); ++step) exchange();
  }

  while (size >= 2) {
    const std::size_t length =
        std::min<std::size_t>((std::size_t{data[0]} << 8) | data[1], size - 2);
    Bytes packet(data + 2, data + 2 + length);
    data += 2 + length;
    size -= 2 + length;
    if (control & 0x02) repair(packet);
    (void)(*b)->on_packet(packet);
    if (control & 0x01) {
      exchange();
    } else {
      (*b)->tick(now);
      now += 10;
    }
  }
  (void)(*b)->secure();
  (void)(*b)->negotiating();
  return 0;
}
