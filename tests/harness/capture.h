// A capture of the UDP datagrams on the loopback interface, for tests that
// must show what crosses the wire (no plain audio in an encrypted call).
//
//   UdpCapture capture;           // starts capturing at once
//   ... run the call ...
//   auto datagrams = capture.stop();
//
// Uses an AF_PACKET socket bound to "lo", which needs CAP_NET_RAW (root in a
// container or CI); available() says whether this process has it.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace sotto::test {

struct CapturedDatagram {
  uint16_t source_port = 0;
  uint16_t destination_port = 0;
  std::vector<uint8_t> payload;
};

class UdpCapture {
 public:
  // Whether an AF_PACKET socket can be opened here.
  static bool available();
  // Throws std::runtime_error when the socket cannot be opened.
  UdpCapture();
  ~UdpCapture();
  UdpCapture(const UdpCapture&) = delete;
  UdpCapture& operator=(const UdpCapture&) = delete;

  // Stops capturing (idempotent) and returns every IPv4 UDP datagram seen.
  std::vector<CapturedDatagram> stop();

 private:
  void run();
  int fd_ = -1;
  int wake_[2] = {-1, -1};
  std::thread thread_;
  std::mutex mutex_;
  std::vector<CapturedDatagram> datagrams_;
};

}  // namespace sotto::test
