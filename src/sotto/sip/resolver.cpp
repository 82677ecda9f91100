#include "sotto/sip/resolver.h"

#include <ares.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <poll.h>

#include <algorithm>
#include <mutex>
#include <thread>

#include <asio/post.hpp>

namespace sotto::sip {
namespace {

constexpr std::string_view kLog = "sip.dns";

bool ends_with(std::string_view text, std::string_view tail) {
  return text.size() >= tail.size() && text.substr(text.size() - tail.size()) == tail;
}

struct Srv {
  uint16_t priority = 0;
  uint16_t weight = 0;
  uint16_t port = 0;
  std::string target;
};

struct Naptr {
  uint16_t order = 0;
  uint16_t preference = 0;
  std::string service;
  std::string replacement;
};

// One c-ares channel for one lookup thread: 2 s timeout, 2 tries.
class Dns {
 public:
  Dns() {
    ares_options options{};
    options.timeout = 2000;
    options.tries = 2;
    ok_ =
        ares_init_options(&channel_, &options, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES) == ARES_SUCCESS;
  }
  ~Dns() {
    if (ok_) ares_destroy(channel_);
  }

  std::vector<Srv> srv(const std::string& name) {
    std::vector<Srv> out;
    auto answer = query(name, ns_t_srv);
    if (answer.empty()) return out;
    ares_srv_reply* reply = nullptr;
    if (ares_parse_srv_reply(answer.data(), static_cast<int>(answer.size()), &reply) !=
        ARES_SUCCESS)
      return out;
    for (auto* r = reply; r != nullptr; r = r->next)
      out.push_back(Srv{r->priority, r->weight, r->port, r->host != nullptr ? r->host : ""});
    ares_free_data(reply);
    return out;
  }

  std::vector<Naptr> naptr(const std::string& name) {
    std::vector<Naptr> out;
    auto answer = query(name, ns_t_naptr);
    if (answer.empty()) return out;
    ares_naptr_reply* reply = nullptr;
    if (ares_parse_naptr_reply(answer.data(), static_cast<int>(answer.size()), &reply) !=
        ARES_SUCCESS)
      return out;
    for (auto* r = reply; r != nullptr; r = r->next)
      out.push_back(
          Naptr{r->order, r->preference, ascii_lower(reinterpret_cast<const char*>(r->service)),
                r->replacement != nullptr ? reinterpret_cast<const char*>(r->replacement) : ""});
    ares_free_data(reply);
    return out;
  }

 private:
  std::vector<unsigned char> query(const std::string& name, int type) {
    std::vector<unsigned char> result;
    if (!ok_) return result;
    struct Out {
      std::vector<unsigned char>* result;
      bool done = false;
    } out{&result};
    ares_query(
        channel_, name.c_str(), ns_c_in, type,
        [](void* arg, int status, int, unsigned char* abuf, int alen) {
          auto* o = static_cast<Out*>(arg);
          o->done = true;
          if (status == ARES_SUCCESS && abuf != nullptr && alen > 0)
            o->result->assign(abuf, abuf + alen);
        },
        &out);
    // poll(), not select(): a process with many open files has descriptors
    // above FD_SETSIZE, which select() cannot take.
    while (!out.done) {
      ares_socket_t sockets[ARES_GETSOCK_MAXNUM];
      int bits = ares_getsock(channel_, sockets, ARES_GETSOCK_MAXNUM);
      std::vector<pollfd> fds;
      for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
        short events = 0;
        if (ARES_GETSOCK_READABLE(bits, i)) events |= POLLIN;
        if (ARES_GETSOCK_WRITABLE(bits, i)) events |= POLLOUT;
        if (events != 0) fds.push_back(pollfd{sockets[i], events, 0});
      }
      if (fds.empty()) break;
      timeval tv{};
      timeval* tvp = ares_timeout(channel_, nullptr, &tv);
      int timeout_ms =
          tvp == nullptr ? 1000 : static_cast<int>(tvp->tv_sec * 1000 + tvp->tv_usec / 1000);
      int ready = ::poll(fds.data(), fds.size(), timeout_ms);
      if (ready <= 0) {
        ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts
        continue;
      }
      for (const auto& fd : fds) {
        ares_process_fd(channel_,
                        (fd.revents & (POLLIN | POLLERR | POLLHUP)) ? fd.fd : ARES_SOCKET_BAD,
                        (fd.revents & POLLOUT) ? fd.fd : ARES_SOCKET_BAD);
      }
    }
    // The callback must not outlive `out`: cancelling calls it now.
    if (!out.done) ares_cancel(channel_);
    return result;
  }

  ares_channel channel_{};
  bool ok_ = false;
};

std::vector<asio::ip::address> addresses(const std::string& host) {
  std::vector<asio::ip::address> out;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* info = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &info) != 0) return out;
  for (auto* a = info; a != nullptr; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      auto* sin = reinterpret_cast<sockaddr_in*>(a->ai_addr);
      asio::ip::address_v4::bytes_type bytes;
      std::memcpy(bytes.data(), &sin->sin_addr, 4);
      out.push_back(asio::ip::address_v4(bytes));
    } else if (a->ai_family == AF_INET6) {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(a->ai_addr);
      asio::ip::address_v6::bytes_type bytes;
      std::memcpy(bytes.data(), &sin6->sin6_addr, 16);
      out.push_back(asio::ip::address_v6(bytes));
    }
  }
  freeaddrinfo(info);
  // IPv4 first: most SIP servers and NATs are happier with it.
  std::stable_partition(out.begin(), out.end(), [](const auto& a) { return a.is_v4(); });
  return out;
}

std::string srv_name(Transport transport, const std::string& domain) {
  switch (transport) {
    case Transport::udp:
      return "_sip._udp." + domain;
    case Transport::tcp:
      return "_sip._tcp." + domain;
    case Transport::tls:
      return "_sips._tcp." + domain;
  }
  return "_sip._udp." + domain;
}

std::string_view naptr_service(Transport transport) {
  switch (transport) {
    case Transport::udp:
      return "sip+d2u";
    case Transport::tcp:
      return "sip+d2t";
    case Transport::tls:
      return "sips+d2t";
  }
  return "sip+d2u";
}

}  // namespace

Result<std::vector<ServerTarget>> lookup_sip_server(const std::string& host_in, uint16_t port,
                                                    Transport transport, bool exact) {
  std::string host = ascii_lower(host_in);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  uint16_t default_port = transport == Transport::tls ? 5061 : 5060;
  std::error_code ec;
  auto literal = asio::ip::make_address(host, ec);
  if (!ec) return std::vector<ServerTarget>{{transport, literal, port ? port : default_port, host}};
  if (host == "localhost")
    return std::vector<ServerTarget>{
        {transport, asio::ip::make_address("127.0.0.1"), port ? port : default_port, host}};
  if (host.empty() || ends_with(host, ".invalid") || host == "invalid")
    return fail(Errc::network, "the SIP server's name " + host_in + " cannot be looked up");

  std::vector<ServerTarget> targets;
  auto add_host = [&](const std::string& name, uint16_t p) {
    for (const auto& address : addresses(name))
      targets.push_back(ServerTarget{transport, address, p, host});
  };
  if (exact || port != 0) {
    add_host(host, port ? port : default_port);
  } else {
    Dns dns;
    // RFC 3263 §4.1: NAPTR first; its replacement names the SRV to ask.
    std::string srv_query = srv_name(transport, host);
    auto naptrs = dns.naptr(host);
    std::sort(naptrs.begin(), naptrs.end(), [](const Naptr& a, const Naptr& b) {
      return std::tie(a.order, a.preference) < std::tie(b.order, b.preference);
    });
    for (const auto& n : naptrs)
      if (n.service == naptr_service(transport) && !n.replacement.empty()) {
        srv_query = n.replacement;
        break;
      }
    auto srvs = dns.srv(srv_query);
    std::erase_if(srvs, [](const Srv& s) { return s.target.empty() || s.target == "."; });
    std::sort(srvs.begin(), srvs.end(), [](const Srv& a, const Srv& b) {
      return std::tie(a.priority, b.weight) < std::tie(b.priority, a.weight);
    });
    for (const auto& s : srvs) add_host(s.target, s.port);
    if (srvs.empty()) add_host(host, default_port);
  }
  if (targets.empty()) return fail(Errc::network, "the SIP server " + host_in + " was not found");
  for (const auto& t : targets)
    log::debug(kLog, host + " -> " + t.address.to_string() + ":" + std::to_string(t.port));
  return targets;
}

struct ServerResolver::State : std::enable_shared_from_this<State> {
  std::mutex mutex;
  bool cancelled = false;
  asio::any_io_executor executor;
  std::function<void(Result<std::vector<ServerTarget>>)> done;

  void deliver(Result<std::vector<ServerTarget>> result) {
    std::lock_guard lock(mutex);
    if (cancelled || !done) return;
    asio::post(executor, [self = shared_from_this(), result = std::move(result)]() mutable {
      std::function<void(Result<std::vector<ServerTarget>>)> callback;
      {
        std::lock_guard lock(self->mutex);
        if (self->cancelled) return;
        callback = std::move(self->done);
      }
      if (callback) callback(std::move(result));
    });
  }
};

ServerResolver::ServerResolver(asio::any_io_executor executor) : state_(std::make_shared<State>()) {
  state_->executor = std::move(executor);
}

ServerResolver::~ServerResolver() {
  std::function<void(Result<std::vector<ServerTarget>>)> callback;
  {
    std::lock_guard lock(state_->mutex);
    state_->cancelled = true;
    state_->executor = asio::any_io_executor();
    callback = std::move(state_->done);
  }
}

void ServerResolver::resolve(std::string host, uint16_t port, Transport transport, bool exact,
                             std::function<void(Result<std::vector<ServerTarget>>)> done) {
  {
    std::lock_guard lock(state_->mutex);
    state_->done = std::move(done);
  }
  // Literals and reserved names need no thread.
  std::error_code ec;
  std::string bare = host;
  if (bare.size() > 2 && bare.front() == '[') bare = bare.substr(1, bare.size() - 2);
  asio::ip::make_address(bare, ec);
  if (!ec || ascii_lower(host) == "localhost" || ends_with(ascii_lower(host), ".invalid")) {
    state_->deliver(lookup_sip_server(host, port, transport, exact));
    return;
  }
  try {
    std::thread([state = state_, host, port, transport, exact] {
      state->deliver(lookup_sip_server(host, port, transport, exact));
    }).detach();
  } catch (const std::system_error&) {
    state_->deliver(fail(Errc::io, "could not start a DNS lookup"));
  }
}

}  // namespace sotto::sip
