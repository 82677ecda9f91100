#include "harness/kamailio.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "harness/process.h"
#include "harness/util.h"

namespace sotto::test {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using detail::errno_text;
using detail::read_file;
using detail::tail_lines;

constexpr auto kStartDeadline = 10s;
constexpr auto kStopTimeout = 5s;
constexpr int kStartAttempts = 3;
constexpr const char* kModules = "/usr/lib/x86_64-linux-gnu/kamailio/modules/";

void check_user(const std::string& user, const std::string& password) {
  bool ok = !user.empty();
  for (char c : user) {
    ok = ok &&
         (std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-' || c == '_');
  }
  for (char c : password) ok = ok && c != ':' && c != '\n' && c != '\\';
  if (!ok) throw std::runtime_error("Kamailio test user must be [A-Za-z0-9._-]+: " + user);
}

bool tcp_accepts(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(errno_text("socket"));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

Kamailio::Kamailio(KamailioOptions opts) : opts_(std::move(opts)), dir_("sotto-kamailio") {
  for (const auto& [user, password] : opts_.users) check_user(user, password);
  fs::create_directory(dir() / "db");
  fs::create_directory(dir() / "run");
  fs::copy_file("/usr/share/kamailio/dbtext/kamailio/version", dir() / "db" / "version");
  write_users();
  const fs::path key = dir() / "key.pem";
  detail::run_command({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                       "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30", "-subj",
                       "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                       "-keyout", key.string(), "-out", cert_pem().string()},
                      dir() / "openssl.out", "openssl");
  ::chmod(key.c_str(), 0600);
  cert_sha256_ = detail::cert_sha256_hex(cert_pem());

  for (int attempt = 1;; ++attempt) {
    auto ports = detail::free_ports(1, 2);
    udp_port_ = ports[0];
    tcp_port_ = ports[1];
    tls_port_ = ports[2];
    write_config();
    bool port_in_use = false;
    try {
      launch(&port_in_use);
      return;
    } catch (const std::runtime_error&) {
      if (!port_in_use || attempt == kStartAttempts) throw;
    }
  }
}

Kamailio::~Kamailio() {
  try {
    stop();
  } catch (...) {
  }
}

fs::path Kamailio::cert_pem() const { return dir() / "cert.pem"; }
fs::path Kamailio::config_path() const { return dir() / "kamailio.cfg"; }
fs::path Kamailio::log_path() const { return dir() / "kamailio.log"; }
std::string Kamailio::log_contents() const { return read_file(log_path()); }
std::uintmax_t Kamailio::log_size() const {
  std::error_code ignored;
  auto size = fs::file_size(log_path(), ignored);
  return ignored ? 0 : size;
}

void Kamailio::write_users() const {
  const fs::path table = dir() / "db" / "subscriber";
  {
    std::ofstream out(table, std::ios::trunc);
    out << "id(int,auto) username(string) domain(string) password(string) \n";
    int id = 1;
    for (const auto& [user, password] : opts_.users) {
      out << id++ << ":" << user << ":127.0.0.1:" << password << "\n";
    }
    if (!out.flush()) throw std::runtime_error("could not write " + table.string());
  }
  // db_text reloads a table whose mtime changed (seconds): make it change.
  timespec times[2];
  times[0].tv_sec = times[1].tv_sec = std::time(nullptr) + users_version_;
  times[0].tv_nsec = times[1].tv_nsec = 0;
  ::utimensat(AT_FDCWD, table.c_str(), times, 0);
}

void Kamailio::add_user(const std::string& user, const std::string& password) {
  check_user(user, password);
  opts_.users[user] = password;
  ++users_version_;
  write_users();
}

void Kamailio::write_config() const {
  const std::string d = dir().string();
  {
    std::ofstream tls(dir() / "tls.cfg", std::ios::trunc);
    tls << "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\n"
        << "require_certificate = no\nprivate_key = " << d << "/key.pem\n"
        << "certificate = " << d << "/cert.pem\n\n"
        << "[client:default]\nmethod = TLSv1.2+\nverify_certificate = no\n"
        << "require_certificate = no\n";
  }
  const std::string u = std::to_string(udp_port_);
  const std::string t = std::to_string(tcp_port_);
  const std::string s = std::to_string(tls_port_);
  std::ostringstream c;
  c << "#!KAMAILIO\n"
    << "# Written by sotto::test::Kamailio (tests/harness/kamailio.cpp).\n"
    << "debug=2\nlog_stderror=yes\nmemdbg=5\nmemlog=5\n"
    << "children=2\ntcp_children=2\nauto_aliases=no\n"
    << "listen=udp:127.0.0.1:" << u << "\n"
    << "listen=tcp:127.0.0.1:" << t << "\n"
    << "listen=tls:127.0.0.1:" << s
    << "\n"
    // Aliases with explicit ports only: a port-less alias makes every UA on
    // 127.0.0.1 look like this proxy (in-dialog requests loop).
    << "alias=\"127.0.0.1:" << u << "\"\nalias=\"127.0.0.1:" << t << "\"\n"
    << "alias=\"127.0.0.1:" << s << "\"\nalias=\"localhost:" << u << "\"\n"
    << "alias=\"localhost:" << t << "\"\nalias=\"localhost:" << s << "\"\n"
    << "enable_tls=yes\ntcp_connection_lifetime=3605\n"
    << "mpath=\"" << kModules << "\"\n";
  for (const char* module :
       {"kex",    "corex",   "tm",        "tmx",     "sl",        "rr",   "pv",
        "maxfwd", "usrloc",  "registrar", "textops", "siputils",  "xlog", "sanity",
        "ctl",    "db_text", "auth",      "auth_db", "nathelper", "tls"}) {
    c << "loadmodule \"" << module << ".so\"\n";
  }
  c << "modparam(\"ctl\", \"binrpc\", \"unix:" << d << "/run/ctl.sock\")\n"
    << "modparam(\"usrloc\", \"db_mode\", 0)\n"
    << "modparam(\"registrar\", \"received_avp\", \"$avp(RECEIVED)\")\n"
    << "modparam(\"nathelper\", \"received_avp\", \"$avp(RECEIVED)\")\n"
    << "modparam(\"db_text\", \"db_mode\", 1)\n"
    << "modparam(\"auth_db\", \"db_url\", \"text://" << d << "/db\")\n"
    << "modparam(\"auth_db\", \"calculate_ha1\", yes)\n"
    << "modparam(\"auth_db\", \"password_column\", \"password\")\n"
    << "modparam(\"auth_db\", \"use_domain\", 0)\n"
    << "modparam(\"auth_db\", \"load_credentials\", \"\")\n"
    << "modparam(\"auth\", \"algorithm\", \"" << opts_.algorithm << "\")\n"
    << "modparam(\"tls\", \"config\", \"" << d << "/tls.cfg\")\n"
    << "modparam(\"tm\", \"fr_inv_timer\", 120000)\n";
  if (opts_.max_expires > 0) {
    c << "modparam(\"registrar\", \"max_expires\", " << opts_.max_expires << ")\n"
      << "modparam(\"registrar\", \"min_expires\", 0)\n";
  }
  c << R"CFG(
request_route {
	xlog("L_NOTICE", "SIPLOG recv $rm $ru from $si:$sp/$pr callid=$ci t=$TV(Sn)\n");
	if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
	if (!sanity_check("17895", "7")) { xlog("L_NOTICE", "SIPLOG insane request from $si:$sp\n"); exit; }
	if (is_method("MESSAGE")) { xlog("L_NOTICE", "SIPLOG MESSAGE $fu -> $ru body=[$rb]\n"); }
	if (is_method("OPTIONS") && uri == myself && $rU == $null) { sl_send_reply("200", "Alive"); exit; }
	if (has_totag()) { route(WITHINDLG); exit; }
	if (is_method("CANCEL")) { if (t_check_trans()) { route(RELAY); } exit; }
	if (is_method("ACK")) { if (t_check_trans()) { t_relay(); } exit; }
	t_check_trans();
	if (is_method("REGISTER")) { route(REGISTRAR); exit; }
	route(AUTH);
	remove_hf("Route");
	if (is_method("INVITE|SUBSCRIBE")) { record_route(); }
	if ($rU == $null) { sl_send_reply("484", "Address Incomplete"); exit; }
	route(LOCATION);
}

route[RELAY] {
	if (is_method("INVITE|BYE|UPDATE|CANCEL|ACK")) { t_on_reply("REPLY"); }
	if (!t_relay()) { sl_reply_error(); }
	exit;
}

route[WITHINDLG] {
	if (loose_route()) {
		handle_ruri_alias();
		if (is_gruu()) { lookup("location"); }
		if ((proto == TCP || proto == TLS) && is_method("INVITE|UPDATE")) { add_contact_alias(); }
		route(RELAY);
		exit;
	}
	if (is_method("ACK")) {
		if (t_check_trans()) { route(RELAY); }
		exit;
	}
	if (is_gruu() && lookup("location")) { route(RELAY); exit; }
	sl_send_reply("404", "Not here");
	exit;
}

route[REGISTRAR] {
	if (!www_authorize("$td", "subscriber")) { www_challenge("$td", "1"); exit; }
	if ($au != $tU) { sl_send_reply("403", "Forbidden auth ID"); exit; }
	consume_credentials();
	fix_nated_register();
	if (!save("location")) { sl_reply_error(); }
	xlog("L_NOTICE", "SIPLOG registered $tU contact=$ct via $si:$sp/$pr callid=$ci t=$TV(Sn)\n");
	exit;
}

route[AUTH] {
	if ($fd == "127.0.0.1" || $fd == "localhost") {
		if (!proxy_authorize("$fd", "subscriber")) { proxy_challenge("$fd", "1"); exit; }
		if ($au != $fU) { sl_send_reply("403", "Forbidden auth ID"); exit; }
		consume_credentials();
		if ((proto == TCP || proto == TLS) && is_method("INVITE")) { add_contact_alias(); }
		return;
	}
	if (!($rd == "127.0.0.1" || $rd == "localhost")) { sl_send_reply("403", "Not relaying"); exit; }
}

route[LOCATION] {
	if (!($rd == "127.0.0.1" || $rd == "localhost")) { sl_send_reply("403", "Not relaying"); exit; }
	$var(rc) = lookup("location");
	if ($var(rc) < 0) {
		if (is_subscriber("$ru", "subscriber", "1")) {
			xlog("L_NOTICE", "SIPLOG $rU not registered\n");
			sl_send_reply("480", "Temporarily Unavailable");
		} else {
			sl_send_reply("404", "Not Found");
		}
		exit;
	}
	route(RELAY);
}

onreply_route[REPLY] {
	xlog("L_NOTICE", "SIPLOG reply $rs $rm callid=$ci t=$TV(Sn)\n");
	if ((proto == TCP || proto == TLS) && status =~ "^[12][0-9][0-9]$") { add_contact_alias(); }
}
)CFG";
  std::ofstream out(config_path(), std::ios::trunc);
  out << c.str();
  if (!out.flush()) throw std::runtime_error("could not write " + config_path().string());
}

bool Kamailio::running() const {
  if (pid_ <= 0) return false;
  return !detail::reap(&pid_).has_value();
}

void Kamailio::start() {
  if (running()) return;
  launch(nullptr);
}

void Kamailio::stop() {
  detail::signal_group_and_wait(&pid_, SIGTERM, kStopTimeout);
  watchdog_.reset();
}

void Kamailio::restart() {
  stop();
  start();
}

void Kamailio::launch(bool* port_in_use) {
  log_offset_ = log_size();
  std::error_code ignored;
  fs::remove(dir() / "run" / "ctl.sock", ignored);
  auto started = Clock::now();
  pid_ = detail::spawn(
      {"kamailio", "-f", config_path().string(), "-P", (dir() / "run" / "kamailio.pid").string(),
       "-Y", (dir() / "run").string(), "-DD", "-E", "-m", "32", "-M", "8"},
      {.output = log_path(), .cwd = dir(), .own_group = true, .die_with_parent = true}, "kamailio");
  try {
    watchdog_ = std::make_unique<detail::GroupWatchdog>(pid_);
    wait_until_ready(port_in_use);
  } catch (...) {
    detail::signal_group_and_wait(&pid_, SIGKILL, kStopTimeout);
    watchdog_.reset();
    throw;
  }
  last_start_duration_ =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
}

bool Kamailio::answers_options() const {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(errno_text("socket"));
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local);
  socklen_t len = sizeof local;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
  const std::string lp = std::to_string(ntohs(local.sin_port));
  const std::string target = "sip:127.0.0.1:" + std::to_string(udp_port_);
  const std::string request =
      "OPTIONS " + target + " SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" + lp +
      ";branch=z9hG4bK-probe" + lp + ";rport\r\nFrom: <sip:probe@probe.invalid>;tag=p" + lp +
      "\r\nTo: <" + target + ">\r\nCall-ID: probe-" + lp +
      "\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(udp_port_);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::sendto(fd, request.data(), request.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  pollfd p{fd, POLLIN, 0};
  bool answered = false;
  if (::poll(&p, 1, 100) > 0) {
    char buffer[4096];
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    answered = n > 8 && std::string(buffer, 8) == "SIP/2.0 ";
  }
  ::close(fd);
  return answered;
}

void Kamailio::wait_until_ready(bool* port_in_use) {
  const auto deadline = Clock::now() + kStartDeadline;
  for (;;) {
    if (pid_ <= 0 || detail::reap(&pid_).has_value()) {
      const std::string log = read_file(log_path(), log_offset_);
      if (port_in_use != nullptr && (log.find("Address already in use") != std::string::npos ||
                                     log.find("bind") != std::string::npos)) {
        *port_in_use = true;
      }
      throw std::runtime_error("kamailio exited before answering on 127.0.0.1:" +
                               std::to_string(udp_port_) + "\n" + failure_details());
    }
    if (answers_options() && tcp_accepts(tcp_port_) && tcp_accepts(tls_port_) &&
        fs::exists(dir() / "run" / "ctl.sock")) {
      return;
    }
    if (Clock::now() > deadline) {
      throw std::runtime_error("kamailio did not answer OPTIONS on 127.0.0.1:" +
                               std::to_string(udp_port_) + " within 10 s\n" + failure_details());
    }
    std::this_thread::sleep_for(10ms);
  }
}

std::vector<std::string> Kamailio::contacts(const std::string& user) const {
  std::vector<std::string> out;
  if (!running()) return out;
  const fs::path output = dir() / "kamcmd.out";
  try {
    detail::run_command({"kamcmd", "-s", "unix:" + (dir() / "run" / "ctl.sock").string(),
                         "ul.lookup", "location", user},
                        output, "kamailio");
  } catch (const std::runtime_error&) {
    return out;  // "AOR not found" exits with an error
  }
  std::istringstream in(read_file(output));
  for (std::string line; std::getline(in, line);) {
    auto at = line.find("Address: ");
    if (at != std::string::npos) out.push_back(line.substr(at + 9));
  }
  return out;
}

bool Kamailio::wait_registered(const std::string& user, std::chrono::milliseconds timeout) const {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (!contacts(user).empty()) return true;
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

std::vector<KamailioMessage> Kamailio::logged_messages(std::uintmax_t offset) const {
  std::vector<KamailioMessage> out;
  const std::string log = read_file(log_path(), offset);
  const std::string marker = "SIPLOG MESSAGE ";
  for (std::size_t at = log.find(marker); at != std::string::npos; at = log.find(marker, at + 1)) {
    std::size_t start = at + marker.size();
    std::size_t arrow = log.find(" -> ", start);
    std::size_t body = log.find(" body=[", start);
    if (arrow == std::string::npos || body == std::string::npos || arrow > body) continue;
    std::size_t end = log.find("]\n", body);
    if (end == std::string::npos) end = log.size();
    KamailioMessage m;
    m.from = log.substr(start, arrow - start);
    m.to = log.substr(arrow + 4, body - arrow - 4);
    m.body = log.substr(body + 7, end - body - 7);
    out.push_back(std::move(m));
  }
  return out;
}

std::string Kamailio::failure_details() const {
  return "--- " + log_path().string() + " (this start, last lines):\n" +
         tail_lines(read_file(log_path(), log_offset_), 25);
}

}  // namespace sotto::test
