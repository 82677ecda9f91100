// `sotto-test-prosody`: the test harness's private Prosody for shell scripts
// (scripts/demo, bench/*.sh). Starts it on 127.0.0.1, prints one line
//   c2s_port=N tls_port=N domain=D sha256=HEX dir=PATH
// and keeps it running until standard input closes or SIGTERM/SIGINT.
// Options: --no-registration.
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstring>
#include <iostream>

#include "harness/prosody.h"

int main(int argc, char** argv) {
  sotto::test::ProsodyOptions options;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--no-registration") == 0) {
      options.allow_registration = false;
    } else {
      std::cerr << "usage: sotto-test-prosody [--no-registration]\n";
      return 2;
    }
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  try {
    sotto::test::Prosody server(options);
    std::cout << "c2s_port=" << server.c2s_port() << " tls_port=" << server.direct_tls_port()
              << " domain=" << server.domain() << " sha256=" << server.cert_sha256()
              << " dir=" << server.dir().string() << std::endl;
    // Sleep until stdin closes or a signal arrives.
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
    std::cerr << "sotto-test-prosody: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
