#include "harness/capture.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace sotto::test {
namespace {

int open_socket() {
  // SOCK_DGRAM: the link-layer header is removed, the IP packet remains.
  int fd = ::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_IP));
  if (fd < 0) return -1;
  sockaddr_ll address{};
  address.sll_family = AF_PACKET;
  address.sll_protocol = htons(ETH_P_IP);
  address.sll_ifindex = static_cast<int>(if_nametoindex("lo"));
  if (address.sll_ifindex == 0 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

bool UdpCapture::available() {
  int fd = open_socket();
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

UdpCapture::UdpCapture() {
  fd_ = open_socket();
  if (fd_ < 0) {
    throw std::runtime_error(std::string("cannot capture on lo (needs CAP_NET_RAW): ") +
                             std::strerror(errno));
  }
  if (::pipe2(wake_, O_CLOEXEC) != 0) {
    ::close(fd_);
    throw std::runtime_error("pipe2 failed");
  }
  thread_ = std::thread([this] { run(); });
}

UdpCapture::~UdpCapture() {
  stop();
  if (fd_ >= 0) ::close(fd_);
  for (int fd : wake_) {
    if (fd >= 0) ::close(fd);
  }
}

void UdpCapture::run() {
  std::vector<uint8_t> buffer(70000);
  pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
  for (;;) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    // On loopback each packet is seen once per direction it is delivered
    // (outgoing and incoming): keep the incoming copy only.
    sockaddr_ll from{};
    socklen_t from_size = sizeof from;
    const ssize_t n = ::recvfrom(fd_, buffer.data(), buffer.size(), 0,
                                 reinterpret_cast<sockaddr*>(&from), &from_size);
    if (n < 20 || from.sll_pkttype == PACKET_OUTGOING) continue;
    const std::size_t size = static_cast<std::size_t>(n);
    const std::size_t header = (buffer[0] & 0x0f) * 4u;
    if ((buffer[0] >> 4) != 4 || buffer[9] != IPPROTO_UDP || header + 8 > size) continue;
    const uint8_t* udp = buffer.data() + header;
    const std::size_t udp_length = (std::size_t{udp[4]} << 8) | udp[5];
    if (udp_length < 8 || header + udp_length > size) continue;
    CapturedDatagram datagram;
    datagram.source_port = static_cast<uint16_t>((udp[0] << 8) | udp[1]);
    datagram.destination_port = static_cast<uint16_t>((udp[2] << 8) | udp[3]);
    datagram.payload.assign(udp + 8, udp + udp_length);
    std::lock_guard lock(mutex_);
    datagrams_.push_back(std::move(datagram));
  }
}

std::vector<CapturedDatagram> UdpCapture::stop() {
  if (thread_.joinable()) {
    const char byte = 1;
    (void)!::write(wake_[1], &byte, 1);
    thread_.join();
  }
  std::lock_guard lock(mutex_);
  return datagrams_;
}

}  // namespace sotto::test
