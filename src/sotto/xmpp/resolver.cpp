#include "sotto/xmpp/resolver.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>

#include <algorithm>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <system_error>
#include <thread>

#include <asio/post.hpp>

#include "sotto/base/base.h"

namespace sotto::xmpp {
namespace {

constexpr std::string_view kLog = "xmpp.dns";
constexpr uint16_t kDefaultPort = 5222;  // RFC 6120 §3.2.2

bool not_offered(const SrvRecord& record) { return record.target.empty() || record.target == "."; }

// Load spreading only: no need for a cryptographic generator.
uint32_t random_below(uint32_t bound) {
  if (bound == 0) return 0;
  thread_local std::mt19937 generator(std::random_device{}());
  return std::uniform_int_distribution<uint32_t>(0, bound - 1)(generator);
}

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Names for which DNS has nothing to say, so no query leaves the machine:
// IP literals, and RFC 6761 §6.3 localhost / §6.4 invalid.
bool skip_srv(std::string_view name) {
  const auto is_or_under = [&](std::string_view tld) {
    return name == tld || (name.size() > tld.size() && name.ends_with(tld) &&
                           name[name.size() - tld.size() - 1] == '.');
  };
  if (is_or_under("localhost") || is_or_under("invalid")) return true;
  if (name.size() > 253) return true;  // cannot be a DNS name
  if (std::any_of(name.begin(), name.end(), [](char c) { return (c & 0x80) != 0; }))
    return true;  // not an A-label: we have no IDNA to convert it
  in_addr v4{};
  in6_addr v6{};
  const std::string text(name);
  return inet_pton(AF_INET, text.c_str(), &v4) == 1 || inet_pton(AF_INET6, text.c_str(), &v6) == 1;
}

// The SRV answers for one name; empty on NXDOMAIN, no data, or any failure.
std::vector<SrvRecord> query_srv(const std::string& name, bool direct_tls) {
  std::vector<SrvRecord> records;
  struct __res_state state {};
  if (res_ninit(&state) != 0) {
    log::info(kLog, "no DNS resolver is configured");
    return records;
  }
  state.retrans = 2;  // seconds
  state.retry = 2;

  std::vector<unsigned char> answer(4096);
  int length = res_nquery(&state, name.c_str(), ns_c_in, ns_t_srv, answer.data(),
                          static_cast<int>(answer.size()));
  if (length > static_cast<int>(answer.size())) {  // truncated to our buffer
    answer.resize(std::min(length, NS_MAXMSG));
    length = res_nquery(&state, name.c_str(), ns_c_in, ns_t_srv, answer.data(),
                        static_cast<int>(answer.size()));
  }
  res_nclose(&state);
  if (length <= 0) return records;
  length = std::min(length, static_cast<int>(answer.size()));

  ns_msg message{};
  if (ns_initparse(answer.data(), length, &message) != 0) return records;
  const int count = ns_msg_count(message, ns_s_an);
  for (int i = 0; i < count; ++i) {
    ns_rr rr{};
    if (ns_parserr(&message, ns_s_an, i, &rr) != 0) break;
    if (ns_rr_type(rr) != ns_t_srv || ns_rr_class(rr) != ns_c_in || ns_rr_rdlen(rr) < 7) continue;
    const unsigned char* rdata = ns_rr_rdata(rr);  // RFC 2782: priority, weight, port, target
    char target[NS_MAXDNAME];
    if (dn_expand(ns_msg_base(message), ns_msg_end(message), rdata + 6, target, sizeof target) < 0)
      continue;
    SrvRecord record;
    record.priority = ns_get16(rdata);
    record.weight = ns_get16(rdata + 2);
    record.port = ns_get16(rdata + 4);
    record.target = target;
    if (record.target.size() > 1 && record.target.back() == '.') record.target.pop_back();
    record.direct_tls = direct_tls;
    records.push_back(std::move(record));
  }
  return records;
}

}  // namespace

std::vector<ServerEndpoint> order_srv(std::vector<SrvRecord> records,
                                      std::function<uint32_t(uint32_t)> rand_below) {
  std::erase_if(records, not_offered);
  // XEP-0368 §3: at equal priority, prefer direct TLS.
  std::stable_sort(records.begin(), records.end(), [](const SrvRecord& a, const SrvRecord& b) {
    if (a.priority != b.priority) return a.priority < b.priority;
    return a.direct_tls && !b.direct_tls;
  });

  std::vector<ServerEndpoint> ordered;
  ordered.reserve(records.size());
  auto group_begin = records.begin();
  while (group_begin != records.end()) {
    auto group_end = std::find_if(group_begin, records.end(), [&](const SrvRecord& r) {
      return r.priority != group_begin->priority || r.direct_tls != group_begin->direct_tls;
    });
    // RFC 2782: zero-weight records first, then repeatedly pick the first
    // record whose running weight sum reaches a random number in [0, sum].
    std::vector<SrvRecord> group(std::make_move_iterator(group_begin),
                                 std::make_move_iterator(group_end));
    std::stable_partition(group.begin(), group.end(),
                          [](const SrvRecord& r) { return r.weight == 0; });
    while (!group.empty()) {
      uint32_t sum = 0;
      for (const auto& r : group) sum += r.weight;
      const uint32_t pick = rand_below ? std::min(rand_below(sum + 1), sum) : 0;
      std::size_t chosen = 0;
      uint32_t running = 0;
      for (; chosen < group.size(); ++chosen) {
        running += group[chosen].weight;
        if (running >= pick) break;
      }
      auto& record = group[chosen];
      ordered.push_back(ServerEndpoint{std::move(record.target), record.port, record.direct_tls});
      group.erase(group.begin() + static_cast<std::ptrdiff_t>(chosen));
    }
    group_begin = group_end;
  }
  return ordered;
}

std::vector<ServerEndpoint> lookup_xmpp_srv(std::string_view domain) {
  std::string name = ascii_lower(domain);
  if (name.size() > 1 && name.back() == '.') name.pop_back();
  std::string host = name;  // what to connect to without SRV: no IPv6 brackets
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  const std::vector<ServerEndpoint> fallback{ServerEndpoint{host, kDefaultPort, false}};
  if (name.empty() || skip_srv(host)) return fallback;

  // Both lookups at once: a slow DNS server costs one timeout, not two.
  std::vector<SrvRecord> records;
  std::future<std::vector<SrvRecord>> direct;
  try {
    direct = std::async(std::launch::async, query_srv, "_xmpps-client._tcp." + name, true);
  } catch (const std::system_error&) {
    records = query_srv("_xmpps-client._tcp." + name, true);
  }
  auto starttls = query_srv("_xmpp-client._tcp." + name, false);
  if (direct.valid()) records = direct.get();
  // RFC 2782: "." says the service is decidedly not available. Only a "."
  // for _xmpp-client rules out the fallback to <domain>:5222 (RFC 6120 §3.2.2).
  const bool refused = std::any_of(starttls.begin(), starttls.end(), not_offered);
  records.insert(records.end(), std::make_move_iterator(starttls.begin()),
                 std::make_move_iterator(starttls.end()));

  auto ordered = order_srv(std::move(records), random_below);
  if (ordered.empty()) {
    if (refused) {
      log::info(kLog, name + " says it offers no XMPP service (SRV target \".\")");
      return {};
    }
    log::debug(kLog, "no usable SRV record for " + name + "; trying " + name + ":5222");
    return fallback;
  }
  for (const auto& endpoint : ordered) {
    log::debug(kLog, name + " -> " + endpoint.host + ":" + std::to_string(endpoint.port) +
                         (endpoint.direct_tls ? " (direct TLS)" : " (STARTTLS)"));
  }
  return ordered;
}

// ---------------------------------------------------------------------------
// SrvResolver
//
// Worker threads are detached: joining one stuck in DNS would block. They
// share State with the resolver; callbacks live in State so that they are
// destroyed on the executor's thread, never on a worker.

struct SrvResolver::State : std::enable_shared_from_this<State> {
  std::mutex mutex;
  bool cancelled = false;
  asio::any_io_executor executor;  // reset on cancel: workers may outlive the io_context
  uint64_t next_id = 0;
  std::map<uint64_t, std::function<void(std::vector<ServerEndpoint>)>> pending;

  bool is_cancelled() {
    std::lock_guard lock(mutex);
    return cancelled;
  }

  // From any thread: hands `endpoints` to request `id` on the executor.
  void deliver(uint64_t id, std::vector<ServerEndpoint> endpoints) {
    std::lock_guard lock(mutex);
    if (cancelled) return;
    auto node = pending.extract(id);
    if (node.empty()) return;
    asio::post(executor, [self = shared_from_this(), done = std::move(node.mapped()),
                          endpoints = std::move(endpoints)]() mutable {
      if (!self->is_cancelled()) done(std::move(endpoints));
    });
  }
};

SrvResolver::SrvResolver(asio::any_io_executor executor) : state_(std::make_shared<State>()) {
  state_->executor = std::move(executor);
}

SrvResolver::~SrvResolver() {
  decltype(state_->pending) callbacks;
  {
    std::lock_guard lock(state_->mutex);
    state_->cancelled = true;
    state_->executor = asio::any_io_executor();
    callbacks.swap(state_->pending);
  }
  // `callbacks` is destroyed here, outside the lock: they may own anything.
}

void SrvResolver::resolve(std::string domain,
                          std::function<void(std::vector<ServerEndpoint>)> done) {
  uint64_t id = 0;
  {
    std::lock_guard lock(state_->mutex);
    id = state_->next_id++;
    state_->pending.emplace(id, std::move(done));
  }
  try {
    std::thread([state = state_, id, domain] {
      state->deliver(id, lookup_xmpp_srv(domain));
    }).detach();
  } catch (const std::system_error&) {
    log::warn(kLog, "could not start a DNS thread; trying " + domain + ":5222");
    state_->deliver(id, {ServerEndpoint{domain, kDefaultPort, false}});
  }
}

}  // namespace sotto::xmpp
