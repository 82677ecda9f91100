// "Add an account": an XMPP account the user already has, a new one created
// on a server (in-band registration, XMPP only), or a SIP account the user
// already has. Three pages: which kind, the details (address, password,
// remember, advanced server settings), and
// the work itself, which waits until the account is online. A refused
// certificate asks to trust its fingerprint and, if trusted, tries again.
// An existing account that fails to log in is removed again unless the user
// keeps it, so that the wizard leaves nothing half-made behind.
//
// Object names for tests: radio buttons "existingAccount" / "createAccount" /
// "sipAccount"; fields "address", "password", "confirm", "remember", "host",
// "port", "directTls" (XMPP), "transport" (a combo box whose item data is
// "udp", "tcp" or "tls") and "authUser" (SIP) (errors "addressError", "passwordError",
// "confirmError", "hostError"); "advancedToggle" shows the advanced group "advanced"; on the last
// page "status" (what is going on, or what went wrong), "progress" and "keepAccount".
// QWizard::next() works programmatically: a page with bad input refuses it and says why next to the
// field.
#pragma once

#include <QString>
#include <QWizard>

#include <string>

#include "state.h"

namespace sotto::desktop {

class AccountKindPage;
class AccountDetailsPage;
class AccountProgressPage;

class AccountWizard : public QWizard {
  Q_OBJECT

 public:
  enum Page { kind_page, details_page, progress_page };

  explicit AccountWizard(State& state, QWidget* parent = nullptr);
  ~AccountWizard() override;

  // What the last page says.
  QString status_text() const;
  // The account being set up (bare address, normalised), once past the
  // details page.
  std::string account() const;
  // The user chose to keep an account that did not come online.
  bool kept_offline() const;

  // True while some AccountWizard is connecting `account` and answers its
  // failures itself (a certificate question, say): other windows should
  // leave those to it.
  static bool is_setting_up(const std::string& account);

  void done(int result) override;

 private:
  friend class AccountDetailsPage;
  friend class AccountProgressPage;

  State& state_;
  AccountKindPage* kind_;
  AccountDetailsPage* details_;
  AccountProgressPage* progress_;
};

}  // namespace sotto::desktop
