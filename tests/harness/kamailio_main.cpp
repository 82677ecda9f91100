// `sotto-test-kamailio`: the test harness's private Kamailio for shell scripts
// (scripts/demo, bench/sip_bench.sh). Starts it on 127.0.0.1 with the users
// given as USER:PASSWORD arguments, prints one line
//   udp_port=N tcp_port=N tls_port=N domain=D sha256=HEX dir=PATH log=PATH
// and keeps it running until standard input closes or SIGTERM/SIGINT.
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <string>

#include "harness/kamailio.h"

int main(int argc, char** argv) {
  sotto::test::KamailioOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto colon = arg.find(':');
    if (arg == "--sha256") {
      options.algorithm = "SHA-256";
    } else if (colon != std::string::npos && colon > 0) {
      options.users[arg.substr(0, colon)] = arg.substr(colon + 1);
    } else {
      std::cerr << "usage: sotto-test-kamailio [--sha256] [USER:PASSWORD...]\n";
      return 2;
    }
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  try {
    sotto::test::Kamailio server(options);
    std::cout << "udp_port=" << server.udp_port() << " tcp_port=" << server.tcp_port()
              << " tls_port=" << server.tls_port() << " domain=" << server.domain()
              << " sha256=" << server.cert_sha256() << " dir=" << server.dir().string()
              << " log=" << server.log_path().string() << std::endl;
    int sfd = signalfd(-1, &signals, SFD_CLOEXEC);
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {sfd, POLLIN, 0}};
    for (;;) {
      if (poll(fds, 2, -1) < 0) continue;
      if (fds[1].revents != 0) break;
      if (fds[0].revents != 0) {
        char buffer[256];
        if (read(STDIN_FILENO, buffer, sizeof buffer) <= 0) break;
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "sotto-test-kamailio: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
