#include "sotto/xmpp/resolver.h"

#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <asio.hpp>

namespace sotto::xmpp {
namespace {

using namespace std::chrono_literals;

SrvRecord srv(uint16_t priority, uint16_t weight, std::string target, bool direct_tls = false,
              uint16_t port = 5222) {
  return SrvRecord{priority, weight, port, std::move(target), direct_tls};
}

// A rand_below that replays fixed numbers and records the bounds it was asked for.
struct Script {
  std::deque<uint32_t> numbers;
  std::vector<uint32_t> bounds;

  std::function<uint32_t(uint32_t)> fn() {
    return [this](uint32_t bound) {
      bounds.push_back(bound);
      uint32_t value = 0;
      if (!numbers.empty()) {
        value = numbers.front();
        numbers.pop_front();
      }
      EXPECT_LT(value, bound);
      return value;
    };
  }
};

std::vector<std::string> hosts(const std::vector<ServerEndpoint>& endpoints) {
  std::vector<std::string> out;
  for (const auto& e : endpoints) out.push_back(e.host);
  return out;
}

TEST(OrderSrv, LowerPriorityComesFirst) {
  Script script;
  auto ordered =
      order_srv({srv(20, 0, "c"), srv(5, 0, "a"), srv(10, 0, "b", false, 5269)}, script.fn());
  EXPECT_EQ(hosts(ordered), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(ordered[1].port, 5269);
}

TEST(OrderSrv, DirectTlsFirstAtEqualPriority) {
  Script script;
  auto ordered = order_srv(
      {srv(10, 0, "starttls"), srv(10, 0, "tls", true, 5223), srv(5, 0, "early-starttls")},
      script.fn());
  ASSERT_EQ(ordered.size(), 3u);
  EXPECT_EQ(ordered[0], (ServerEndpoint{"early-starttls", 5222, false}));
  EXPECT_EQ(ordered[1], (ServerEndpoint{"tls", 5223, true}));
  EXPECT_EQ(ordered[2], (ServerEndpoint{"starttls", 5222, false}));
}

// RFC 2782: running sums over [zero-weight first, ...]; the first record whose
// sum reaches a random number in [0, total] is picked.
TEST(OrderSrv, WeightedSelectionFollowsRfc2782) {
  {
    Script script{{0, 0, 0}, {}};  // 0 selects the zero-weight record
    auto ordered =
        order_srv({srv(1, 60, "heavy"), srv(1, 0, "zero"), srv(1, 40, "light")}, script.fn());
    EXPECT_EQ(hosts(ordered), (std::vector<std::string>{"zero", "heavy", "light"}));
    EXPECT_EQ(script.bounds, (std::vector<uint32_t>{101, 101, 41}));
  }
  {
    Script script{{61, 0}, {}};  // 61 > 60: past "heavy", lands on "light"
    auto ordered =
        order_srv({srv(1, 60, "heavy"), srv(1, 0, "zero"), srv(1, 40, "light")}, script.fn());
    EXPECT_EQ(hosts(ordered), (std::vector<std::string>{"light", "zero", "heavy"}));
  }
  {
    Script script{{100, 60}, {}};
    auto ordered = order_srv({srv(1, 60, "heavy"), srv(1, 40, "light")}, script.fn());
    EXPECT_EQ(hosts(ordered), (std::vector<std::string>{"light", "heavy"}));
  }
}

TEST(OrderSrv, WeightsSpreadTheLoad) {
  std::map<std::string, int> first;
  uint32_t counter = 0;
  auto rand_below = [&](uint32_t bound) { return counter++ % bound; };
  for (int i = 0; i < 1010; ++i) {
    auto ordered = order_srv({srv(1, 90, "big"), srv(1, 10, "small")}, rand_below);
    ASSERT_EQ(ordered.size(), 2u);
    ++first[ordered[0].host];
  }
  EXPECT_GT(first["big"], 850);
  EXPECT_GT(first["small"], 50);
}

TEST(OrderSrv, ADotTargetMeansNotOffered) {
  Script script;
  EXPECT_TRUE(order_srv({srv(0, 0, ".", true)}, script.fn()).empty());
  auto ordered = order_srv({srv(0, 0, ".", true), srv(5, 0, "xmpp.example.org")}, script.fn());
  EXPECT_EQ(ordered, (std::vector<ServerEndpoint>{{"xmpp.example.org", 5222, false}}));
}

TEST(OrderSrv, EmptyInEmptyOut) {
  Script script;
  EXPECT_TRUE(order_srv({}, script.fn()).empty());
  EXPECT_TRUE(script.bounds.empty());
}

// Names under .invalid (RFC 6761) and literals never reach DNS.
TEST(LookupXmppSrv, FallsBackWithoutAsking) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(lookup_xmpp_srv("sotto-test.invalid"),
            (std::vector<ServerEndpoint>{{"sotto-test.invalid", 5222, false}}));
  EXPECT_EQ(lookup_xmpp_srv("Sotto-Test.INVALID."),
            (std::vector<ServerEndpoint>{{"sotto-test.invalid", 5222, false}}));
  EXPECT_EQ(lookup_xmpp_srv("localhost"),
            (std::vector<ServerEndpoint>{{"localhost", 5222, false}}));
  EXPECT_EQ(lookup_xmpp_srv("127.0.0.1"),
            (std::vector<ServerEndpoint>{{"127.0.0.1", 5222, false}}));
  EXPECT_EQ(lookup_xmpp_srv("[::1]"), (std::vector<ServerEndpoint>{{"::1", 5222, false}}));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST(SrvResolver, DeliversOnTheExecutor) {
  asio::io_context io;
  SrvResolver resolver(io.get_executor());
  std::optional<std::vector<ServerEndpoint>> result;
  std::thread::id delivered_on;
  resolver.resolve("sotto-test.invalid", [&](std::vector<ServerEndpoint> endpoints) {
    result = std::move(endpoints);
    delivered_on = std::this_thread::get_id();
  });
  EXPECT_FALSE(result);  // never synchronously
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!result && std::chrono::steady_clock::now() < deadline) {
    io.run_for(10ms);
    io.restart();
  }
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, (std::vector<ServerEndpoint>{{"sotto-test.invalid", 5222, false}}));
  EXPECT_TRUE(delivered_on == std::this_thread::get_id());
}

TEST(SrvResolver, NeverCallsBackAfterDestruction) {
  asio::io_context io;
  bool called = false;
  auto alive = std::make_shared<int>(0);
  std::weak_ptr<int> watch = alive;
  {
    SrvResolver resolver(io.get_executor());
    resolver.resolve("sotto-test.invalid",
                     [&called, alive](std::vector<ServerEndpoint>) { called = true; });
    alive.reset();
    std::this_thread::sleep_for(50ms);  // let the worker finish and post
  }
  io.run_for(100ms);
  EXPECT_FALSE(called);
  EXPECT_TRUE(watch.expired());  // the callback was released, not leaked
}

TEST(SrvResolver, MayBeDestroyedInsideItsCallback) {
  asio::io_context io;
  auto resolver = std::make_unique<SrvResolver>(io.get_executor());
  int calls = 0;
  auto done = [&](std::vector<ServerEndpoint>) {
    ++calls;
    resolver.reset();
  };
  resolver->resolve("a.invalid", done);
  resolver->resolve("b.invalid", done);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (resolver && std::chrono::steady_clock::now() < deadline) {
    io.run_for(10ms);
    io.restart();
  }
  io.run_for(100ms);
  EXPECT_FALSE(resolver);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace sotto::xmpp
