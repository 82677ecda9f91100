// Private to sotto/app: the Provider for a SIP account (docs/sip.md).
//
// Wraps one sip::UserAgent: registration becomes the account's state, calls
// become CallInfo and CallChanged (SDP offer/answer through sotto/sdp), and
// MESSAGE (RFC 3428) is the account's InstantMessaging, so chats and OTR work
// over SIP as over XMPP. There is no contact list or presence over SIP.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "sotto/app/app.h"
#include "sotto/app/call_media.h"
#include "sotto/app/packet_log.h"
#include "sotto/media/media.h"
#include "sotto/sdp/sdp.h"
#include "sotto/sip/sip.h"

namespace sotto::app {

// What a call's end means for people, as calls show it and history keeps it.
CallEndReason to_call_end_reason(sip::EndReason reason);
std::string end_text(CallEndReason reason, bool outgoing);
// "user@domain" from a SIP URI ("sip:bob@example.org:5060;transport=tcp",
// "<sips:bob@example.org>"); the text as it is when it has no "@".
std::string peer_address(std::string_view uri);
// "PCMU/8000", "opus/48000/2".
std::string codec_text(const sdp::Codec& codec);
// The account's user agent settings; Errc::invalid_argument for an address
// that is not user@domain or an unknown transport.
[[nodiscard]] Result<sip::AccountConfig> sip_config(const AccountSettings& settings,
                                                    std::string password);

class SipProvider final : public Provider,
                          public InstantMessaging,
                          public Telephony,
                          public PacketCapture,
                          private sip::Listener {
 public:
  using Emit = std::function<void(Event)>;

  // MESSAGE over UDP must stay under 1300 bytes with its headers (RFC 3428
  // §8, RFC 3261 §18.1.1): longer OTR messages are split into fragments.
  static constexpr std::size_t kMaxMessageBytes = 900;
  // Calls at once, beyond which incoming ones are answered 486 Busy Here.
  static constexpr std::size_t kMaxCalls = 32;

  // `audio` carries the calls' media and outlives the provider.
  SipProvider(asio::any_io_executor executor, const AccountSettings& settings, std::string password,
              Emit emit, CallAudio& audio);
  ~SipProvider() override;

  const std::string& account() const override { return account_; }
  AccountState state() const override { return state_; }
  void connect(Availability availability, std::string status) override;
  void disconnect() override;
  void reconfigure(const AccountSettings& settings, std::string password) override;
  std::string server_certificate() const override;

  std::string send_message(const std::string& to, std::string body, std::string id) override;
  std::size_t unacknowledged_messages() const override;
  std::size_t max_message_size() const override { return kMaxMessageBytes; }

  Result<std::string> call(const std::string& to) override;
  Result<void> answer(const std::string& id) override;
  Result<void> reject(const std::string& id, bool busy) override;
  Result<void> hang_up(const std::string& id) override;
  Result<void> hold(const std::string& id, bool on) override;
  std::vector<CallInfo> calls() const override;
  Result<void> confirm_sas(const std::string& id, bool verified) override;
  Result<void> mute(const std::string& id, bool on) override;
  Result<void> send_dtmf(const std::string& id, const std::string& digits) override;

  void set_packet_observer(Observer observer) override;

 protected:
  void* capability(std::type_index type) override;

 private:
  struct Call {
    CallInfo info;
    // The call's audio stream (ports, ZRTP, SRTP); closed with the call.
    std::unique_ptr<CallAudio::Stream> media;
    // What offer/answer agreed, for the media engine.
    std::optional<sdp::Negotiated> negotiated;
    bool media_started = false;
    uint64_t session_id = 0;
    uint64_t version = 0;
    std::optional<sdp::Session> offer;  // ours, waiting for its answer
    std::string answer_sdp;             // incoming: ours, made when the offer came
    std::string codec;                  // negotiated; shown once the call is active
    bool answered = false;              // incoming: 200 OK sent
    std::optional<bool> hold_pending;   // a re-INVITE for hold (true) or resume is out
  };

  void on_registration(sip::RegistrationState state, const std::optional<Error>& error) override;
  void on_incoming_call(const sip::CallHandle& call, const std::string& from_uri,
                        const std::string& from_name, const std::string& sdp_offer) override;
  void on_call_ringing(const sip::CallHandle& call) override;
  void on_call_connected(const sip::CallHandle& call, const std::string& remote_sdp) override;
  Result<std::string> on_call_reoffer(const sip::CallHandle& call,
                                      const std::string& sdp_offer) override;
  void on_reinvite_result(const sip::CallHandle& call,
                          const Result<std::string>& sdp_answer) override;
  void on_call_ended(const sip::CallHandle& call, const sip::CallEnd& end) override;
  void on_message(const std::string& from_uri, const std::string& body,
                  const std::string& content_type) override;
  void on_message_result(const std::string& id, const std::string& to_uri,
                         const Result<void>& result) override;

  void set_state(AccountState state, const std::optional<Error>& error);
  sdp::LocalMedia local_media(const Call& call) const;
  Call* find_call(const std::string& id);
  void changed(const Call& call);
  // Ends the call here: the last CallChanged, and the ports are closed.
  void finish(const std::string& id, CallEndReason reason, std::string text = {});
  void end_all_calls();
  // Opens the audio stream of a new call (ports, ZRTP) and routes its reports.
  // `id` names the call (set once the agent made it: an outgoing call's port
  // goes in its INVITE).
  Result<std::unique_ptr<CallAudio::Stream>> open_media(std::shared_ptr<std::string> id,
                                                        const std::string& peer);
  // Hands what SDP agreed to the media engine (again after each change).
  void start_media(Call& call);
  void on_security(const std::string& id, const media::Security& security);
  void on_stats(const std::string& id, const media::CallStats& stats);

  std::string account_;
  std::string domain_;
  asio::any_io_executor executor_;
  Emit emit_;
  CallAudio& audio_;
  std::unique_ptr<sip::UserAgent> ua_;
  AccountState state_ = AccountState::offline;
  bool contacts_announced_ = false;
  std::map<std::string, Call> calls_;  // by id (the UA's handle)
  // MESSAGEs to one peer go one at a time, each after the previous one's
  // final answer: a proxy may reorder requests sent together (Kamailio's
  // workers do), and OTR fragments must arrive in order.
  struct OutgoingMessage {
    std::string id;
    std::string body;
  };
  struct Outbox {
    std::optional<std::string> in_flight;  // id of the MESSAGE waiting for its answer
    std::deque<OutgoingMessage> waiting;
  };
  void send_next(const std::string& uri);
  std::map<std::string, Outbox> outboxes_;           // by the peer's URI
  std::map<std::string, std::string> message_uris_;  // id in flight -> the peer's URI
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace sotto::app
