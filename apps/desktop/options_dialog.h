// Options: general (history), security (OTR keys, policy and known
// fingerprints; encrypted calls; the master password; remembered
// passwords), accounts, calls (microphone, speaker, voice processing) and
// advanced (packet logging). Every change applies at once; there is only a
// Close button.
//
// Object names: "pageList", "pages"; General: "logHistory"; Security:
// "otrPolicy", per account "ownFingerprint", "generateKey" and
// "importPidgin" (each with the property "account"), "fingerprints" (the
// table), "verifyFingerprint", "unverifyFingerprint", "forgetFingerprint",
// "requireCallEncryption", "protection", "masterPassword",
// "savedPasswords", "forgetPassword"; Accounts: "accounts", "addAccount",
// "editAccount", "changePassword", "removeAccount"; Calls: "microphone" and
// "speaker" (the device name as item data, "" for the system default),
// "echoCancellation", "noiseSuppression", "noAudioDevices"; Advanced: "packetLogging",
// "packetLogDir", "openPacketLogDir".
#pragma once

#include <QDialog>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "state.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QListWidget;
class QProgressBar;
class QPushButton;
class QStackedWidget;
class QTableWidget;
class QTimer;
class QTreeWidget;
class QVBoxLayout;

namespace sotto::desktop {

class OptionsDialog : public QDialog {
  Q_OBJECT

 public:
  enum class Page { general, security, accounts, calls, advanced };

  explicit OptionsDialog(State& state, QWidget* parent = nullptr);

  void show_page(Page page);

 signals:
  // "Add…" on the Accounts page: the main window opens the account wizard.
  void addAccountRequested();

 protected:
  void showEvent(QShowEvent* event) override;

 private:
  struct KeyRow {
    QLabel* fingerprint = nullptr;
    QPushButton* generate = nullptr;
    QPushButton* import = nullptr;
    QProgressBar* progress = nullptr;
  };

  QWidget* make_general();
  QWidget* make_security();
  QWidget* make_accounts();
  QWidget* make_calls();
  QWidget* make_advanced();

  void reload();
  void on_event(const app::Event& event);
  void on_accounts_changed();

  void read_general();
  void read_policy();
  void fill_keys();
  void show_key(const std::string& account, const std::optional<std::string>& fingerprint,
                const QString& problem = {});
  void generate_key(const std::string& account);
  void import_pidgin(const std::string& account);
  void reload_fingerprints();
  void fill_fingerprints();
  void update_fingerprint_buttons();
  const app::OtrFingerprint* selected_fingerprint() const;
  void verify_selected(bool verified);
  void forget_selected();
  void update_protection();
  void fill_saved_passwords();
  void forget_saved_password();

  void fill_accounts();
  std::string selected_account() const;
  void update_account_buttons();
  void edit_account();
  void change_account_password();
  void remove_account();

  void read_require_encryption();
  void read_audio();
  void save_audio();

  void read_packet_logging();
  void set_packet_logging(bool on);

  State& state_;
  Core& core_;

  QListWidget* page_list_ = nullptr;
  QStackedWidget* pages_ = nullptr;

  QCheckBox* log_history_ = nullptr;

  QComboBox* otr_policy_ = nullptr;
  QVBoxLayout* keys_layout_ = nullptr;
  QWidget* keys_ = nullptr;  // rebuilt when the accounts change
  std::vector<std::string> key_accounts_;
  std::map<std::string, KeyRow> key_rows_;
  std::set<std::string> generating_;
  QTableWidget* fingerprints_ = nullptr;
  QLabel* no_fingerprints_ = nullptr;
  QPushButton* verify_ = nullptr;
  QPushButton* unverify_ = nullptr;
  QPushButton* forget_ = nullptr;
  std::vector<app::OtrFingerprint> known_;
  QTimer* fingerprints_timer_ = nullptr;
  QLabel* protection_ = nullptr;
  QPushButton* master_password_ = nullptr;
  QListWidget* saved_passwords_ = nullptr;
  QLabel* no_saved_passwords_ = nullptr;
  QPushButton* forget_password_ = nullptr;

  QTreeWidget* accounts_ = nullptr;
  QPushButton* add_account_ = nullptr;
  QPushButton* edit_account_ = nullptr;
  QPushButton* change_password_ = nullptr;
  QPushButton* remove_account_ = nullptr;

  QCheckBox* require_encryption_ = nullptr;
  QComboBox* microphone_ = nullptr;
  QComboBox* speaker_ = nullptr;
  QCheckBox* echo_cancellation_ = nullptr;
  QCheckBox* noise_suppression_ = nullptr;
  QLabel* no_audio_devices_ = nullptr;

  QCheckBox* packet_logging_ = nullptr;
  QLabel* packet_dir_ = nullptr;
  QPushButton* open_packet_dir_ = nullptr;
  QLabel* packet_warning_ = nullptr;
};

}  // namespace sotto::desktop
