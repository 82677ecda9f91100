#include <array>
#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <random>
#include <thread>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/udp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include "sotto/media/media.h"
#include "sotto/media/stream.h"
#include "sotto/store/store.h"

namespace sotto::media {
namespace {

constexpr std::string_view kLog = "media";
// Ports are picked at random from here (the range common RTP stacks use).
constexpr uint16_t kLowestPort = 16384;
constexpr uint16_t kHighestPort = 32766;
constexpr int kAttempts = 64;
constexpr auto kTick = std::chrono::milliseconds(20);
constexpr int64_t kStatsIntervalUs = 2'000'000;

int64_t micros(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

int64_t wall_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

using udp = asio::ip::udp;

struct Stream {
  Engine::StreamId id = 0;
  udp::socket rtp;
  udp::socket rtcp;
  std::unique_ptr<CallStream> call;
  // The ZRTP cache this stream's channel uses: kept open while it runs.
  std::shared_ptr<store::Database> cache;
  std::optional<udp::endpoint> remote_rtp;
  std::optional<udp::endpoint> remote_rtcp;
  std::array<uint8_t, 2048> rtp_buffer{};
  std::array<uint8_t, 2048> rtcp_buffer{};
  udp::endpoint rtp_from;
  udp::endpoint rtcp_from;
  bool started = false;
  int64_t next_stats_us = 0;

  explicit Stream(asio::io_context& io) : rtp(io), rtcp(io) {}

  void send(udp::socket& socket, const std::optional<udp::endpoint>& to,
            const std::vector<uint8_t>& packet) {
    if (!to || !socket.is_open() || packet.empty()) return;
    std::error_code ec;
    socket.send_to(asio::buffer(packet), *to, 0, ec);
    if (ec && ec != asio::error::would_block) {
      log::debug(kLog, "media send: " + ec.message());
    }
  }

  void close() {
    std::error_code ignored;
    rtp.close(ignored);
    rtcp.close(ignored);
  }
};

}  // namespace

struct Engine::Impl {
  EngineOptions options;
  Listener& listener;
  std::function<void(std::function<void()>)> post;
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  asio::steady_timer timer;
  bool ticking = false;
  std::chrono::steady_clock::time_point next_tick;
  std::shared_ptr<store::Database> cache;
  std::map<StreamId, std::shared_ptr<Stream>> streams;
  std::atomic<StreamId> next_id{1};
  std::thread thread;

  Impl(EngineOptions o, Listener& l, std::function<void(std::function<void()>)> p)
      : options(std::move(o)),
        listener(l),
        post(std::move(p)),
        work(asio::make_work_guard(io)),
        timer(io) {}

  template <class F>
  void on_media_thread(F&& f) {
    asio::post(io, std::forward<F>(f));
  }

  std::shared_ptr<Stream> find(StreamId id) {
    auto it = streams.find(id);
    return it == streams.end() ? nullptr : it->second;
  }

  Result<Opened> open(const std::string& local_address, const std::string& self_uri,
                      const std::string& peer_uri) {
    std::error_code ec;
    asio::ip::address ip = asio::ip::address_v4::any();
    if (!local_address.empty()) {
      ip = asio::ip::make_address(local_address, ec);
      if (ec) return fail(Errc::invalid_argument, "\"" + local_address + "\" is not an IP address");
    }
    const StreamId id = next_id++;
    auto stream = std::make_shared<Stream>(io);
    stream->id = id;
    std::random_device seed;
    std::mt19937 random(seed());
    std::uniform_int_distribution<int> pick(kLowestPort / 2, kHighestPort / 2);
    const udp protocol = ip.is_v6() ? udp::v6() : udp::v4();
    uint16_t port = 0;
    for (int attempt = 0; attempt < kAttempts && port == 0; ++attempt) {
      const auto candidate = static_cast<uint16_t>(pick(random) * 2);
      stream->close();
      stream->rtp.open(protocol, ec);
      if (ec) return fail(Errc::io, "could not open a UDP socket for the call: " + ec.message());
      stream->rtcp.open(protocol, ec);
      if (ec) return fail(Errc::io, "could not open a UDP socket for the call: " + ec.message());
      stream->rtp.bind({ip, candidate}, ec);
      if (ec) continue;
      stream->rtcp.bind({ip, static_cast<uint16_t>(candidate + 1)}, ec);
      if (ec) continue;
      port = candidate;
    }
    if (port == 0) {
      stream->close();
      return fail(Errc::io, "no free pair of UDP ports for the call's audio");
    }
    stream->rtp.non_blocking(true, ec);
    stream->rtcp.non_blocking(true, ec);

    AudioOptions audio_options = options.audio;
    audio_options.on_device_event = [post = post, to = &listener](const std::string& text) {
      post([to, text] { to->on_audio_event(text); });
    };
    auto audio = open_audio(audio_options);
    if (!audio && audio_options.backend == AudioOptions::Backend::pulse) {
      // No sound server (a headless machine, a session without PulseAudio):
      // the call still connects and is still encrypted, and the user is told
      // why there is no sound rather than having the call refused.
      const std::string text = "no sound: " + audio.error().message +
                               "; the call goes on without microphone and speaker";
      log::warn(kLog, text);
      post([to = &listener, text] { to->on_audio_event(text); });
      AudioOptions silent;
      silent.backend = AudioOptions::Backend::null;
      audio = open_audio(silent);
    }
    if (!audio) {
      stream->close();
      return Unexpected(audio.error());
    }

    StreamSetup setup;
    stream->cache = cache;
    if (cache) setup.cache = ZrtpCache{cache->handle()};
    setup.self_uri = self_uri;
    setup.peer_uri = peer_uri;
    setup.audio = std::move(*audio);
    setup.echo_cancellation = options.echo_cancellation;
    setup.noise_suppression = options.noise_suppression;

    CallStream::Callbacks callbacks;
    Stream* raw = stream.get();
    callbacks.send_rtp = [raw](std::vector<uint8_t> packet) {
      raw->send(raw->rtp, raw->remote_rtp, packet);
    };
    callbacks.send_rtcp = [raw](std::vector<uint8_t> packet) {
      raw->send(raw->rtcp, raw->remote_rtcp, packet);
    };
    Listener* to = &listener;
    callbacks.security = [this, to, id](const Security& security) {
      post([to, id, security] { to->on_security(id, security); });
    };
    callbacks.dtmf = [this, to, id](char digit) {
      post([to, id, digit] { to->on_dtmf(id, digit); });
    };
    auto call = CallStream::create(std::move(setup), std::move(callbacks));
    if (!call) {
      stream->close();
      return Unexpected(call.error());
    }
    stream->call = std::move(*call);

    Opened opened;
    opened.id = id;
    opened.rtp_port = port;
    opened.zrtp_hash = stream->call->zrtp_hash();
    streams.emplace(id, stream);
    receive(stream, false);
    receive(stream, true);
    ensure_ticking();
    return opened;
  }

  void receive(const std::shared_ptr<Stream>& stream, bool rtcp) {
    udp::socket& socket = rtcp ? stream->rtcp : stream->rtp;
    auto& buffer = rtcp ? stream->rtcp_buffer : stream->rtp_buffer;
    auto& from = rtcp ? stream->rtcp_from : stream->rtp_from;
    socket.async_receive_from(
        asio::buffer(buffer), from, [this, stream, rtcp](std::error_code ec, std::size_t size) {
          udp::socket& socket = rtcp ? stream->rtcp : stream->rtp;
          if (ec == asio::error::operation_aborted || !socket.is_open()) return;
          if (ec) {
            log::debug(kLog, "media port: " + ec.message());
          } else if (stream->call && stream->started) {
            const auto& buffer = rtcp ? stream->rtcp_buffer : stream->rtp_buffer;
            stream->call->on_datagram(std::span<const uint8_t>(buffer.data(), size), rtcp,
                                      micros(std::chrono::steady_clock::now()));
          }
          receive(stream, rtcp);
        });
  }

  void start(StreamId id, const StreamParams& params) {
    auto stream = find(id);
    if (!stream) return;
    std::error_code ec;
    const auto address = asio::ip::make_address(params.remote_address, ec);
    if (ec) {
      log::warn(kLog, "the call's remote address is not an IP address");
    } else {
      asio::ip::address target = address;
      // An IPv4 peer reached from a dual-stack socket.
      if (stream->rtp.local_endpoint(ec).address().is_v6() && address.is_v4()) {
        target = asio::ip::make_address_v6(asio::ip::v4_mapped, address.to_v4());
      }
      stream->remote_rtp = udp::endpoint(target, params.remote_port);
      stream->remote_rtcp = udp::endpoint(
          target, params.remote_rtcp_port.value_or(static_cast<uint16_t>(params.remote_port + 1)));
    }
    const int64_t now = micros(std::chrono::steady_clock::now());
    auto started = stream->call->start(params, now);
    if (!started) {
      log::warn(kLog, "the call's audio could not start: " + started.error().message);
      Security failed;
      failed.state = Encryption::failed;
      failed.reason = "the call's audio could not start: " + started.error().message;
      Listener* to = &listener;
      post([to, id, failed] { to->on_security(id, failed); });
      return;
    }
    if (!stream->started) {
      stream->started = true;
      stream->next_stats_us = now + kStatsIntervalUs;
    }
    ensure_ticking();
  }

  void close(StreamId id) {
    auto stream = find(id);
    if (!stream) return;
    streams.erase(id);
    if (stream->call) {
      stream->send(stream->rtcp, stream->remote_rtcp, stream->call->bye());
      stream->call.reset();  // closes the audio port
    }
    stream->close();
    if (streams.empty()) {
      ticking = false;
      timer.cancel();
    }
  }

  void ensure_ticking() {
    if (ticking || streams.empty()) return;
    ticking = true;
    next_tick = std::chrono::steady_clock::now() + kTick;
    arm();
  }

  void arm() {
    timer.expires_at(next_tick);
    timer.async_wait([this](std::error_code ec) {
      if (ec || !ticking) return;
      tick();
      if (streams.empty()) {
        ticking = false;
        return;
      }
      const auto now = std::chrono::steady_clock::now();
      next_tick += kTick;
      if (next_tick + 5 * kTick < now) next_tick = now + kTick;  // fell far behind
      arm();
    });
  }

  void tick() {
    const int64_t now = micros(std::chrono::steady_clock::now());
    const int64_t wall = wall_micros();
    // Copy: a callback may close a stream.
    auto snapshot = streams;
    for (auto& [id, stream] : snapshot) {
      if (!stream->call || !stream->started) continue;
      stream->call->tick(now, wall);
      if (now >= stream->next_stats_us) {
        stream->next_stats_us = now + kStatsIntervalUs;
        const CallStats stats = stream->call->stats();
        const StreamId stream_id = id;
        Listener* to = &listener;
        post([to, stream_id, stats] { to->on_stats(stream_id, stats); });
      }
    }
  }

  void shutdown() {
    std::vector<StreamId> ids;
    for (const auto& [id, stream] : streams) ids.push_back(id);
    for (StreamId id : ids) close(id);
    ticking = false;
    timer.cancel();
    cache.reset();
    work.reset();
  }
};

std::unique_ptr<Engine> Engine::create(EngineOptions options, Listener& listener,
                                       std::function<void(std::function<void()>)> post) {
  auto impl = std::make_unique<Impl>(std::move(options), listener, std::move(post));
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] {
    for (;;) {
      try {
        raw->io.run();
        return;
      } catch (const std::exception& e) {
        log::error(kLog, std::string("media thread: ") + e.what());
      }
    }
  });
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Engine::~Engine() {
  if (!impl_) return;
  Impl* impl = impl_.get();
  impl->on_media_thread([impl] { impl->shutdown(); });
  if (impl->thread.joinable()) impl->thread.join();
}

void Engine::set_zrtp_cache(std::optional<store::Database> cache) {
  std::shared_ptr<store::Database> shared;
  if (cache) shared = std::make_shared<store::Database>(std::move(*cache));
  Impl* impl = impl_.get();
  impl->on_media_thread([impl, shared] { impl->cache = shared; });
}

void Engine::set_options(EngineOptions options) {
  Impl* impl = impl_.get();
  auto shared = std::make_shared<EngineOptions>(std::move(options));
  impl->on_media_thread([impl, shared] { impl->options = std::move(*shared); });
}

Result<Engine::Opened> Engine::open(const std::string& local_address, const std::string& self_uri,
                                    const std::string& peer_uri) {
  Impl* impl = impl_.get();
  auto promise = std::make_shared<std::promise<Result<Opened>>>();
  auto future = promise->get_future();
  impl->on_media_thread([impl, promise, local_address, self_uri, peer_uri] {
    promise->set_value(impl->open(local_address, self_uri, peer_uri));
  });
  return future.get();
}

void Engine::start(StreamId id, const StreamParams& params) {
  Impl* impl = impl_.get();
  impl->on_media_thread([impl, id, params] { impl->start(id, params); });
}

void Engine::close(StreamId id) {
  Impl* impl = impl_.get();
  impl->on_media_thread([impl, id] { impl->close(id); });
}

void Engine::set_sas_verified(StreamId id, bool verified) {
  Impl* impl = impl_.get();
  impl->on_media_thread([impl, id, verified] {
    if (auto stream = impl->find(id); stream && stream->call) {
      stream->call->set_sas_verified(verified);
    }
  });
}

void Engine::set_mute(StreamId id, bool mute) {
  Impl* impl = impl_.get();
  impl->on_media_thread([impl, id, mute] {
    if (auto stream = impl->find(id); stream && stream->call) stream->call->set_mute(mute);
  });
}

void Engine::send_dtmf(StreamId id, const std::string& digits) {
  Impl* impl = impl_.get();
  impl->on_media_thread([impl, id, digits] {
    if (auto stream = impl->find(id); stream && stream->call) stream->call->send_dtmf(digits);
  });
}

std::string_view to_string(Encryption encryption) {
  switch (encryption) {
    case Encryption::negotiating:
      return "negotiating";
    case Encryption::secure:
      return "secure";
    case Encryption::none:
      return "none";
    case Encryption::failed:
      return "failed";
  }
  return "?";
}

}  // namespace sotto::media
