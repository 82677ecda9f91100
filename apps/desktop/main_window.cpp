#include "main_window.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QHBoxLayout>
#include <QInputDialog>
#include <QLabel>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QShortcut>
#include <QTimer>
#include <QUrl>
#include <QUrlQuery>
#include <QVBoxLayout>

#include "account_dialogs.h"
#include "account_wizard.h"
#include "call_window.h"
#include "certificate_dialog.h"
#include "chat_window.h"
#include "contact_dialogs.h"
#include "contact_list.h"
#include "dial_bar.h"
#include "history_window.h"
#include "look.h"
#include "options_dialog.h"

namespace sotto::desktop {
namespace {

const app::Availability kStatuses[] = {app::Availability::available, app::Availability::chat,
                                       app::Availability::away,      app::Availability::xa,
                                       app::Availability::dnd,       app::Availability::offline};

}  // namespace

MainWindow::MainWindow(State& state, QWidget* parent) : QMainWindow(parent), state_(state) {
  setObjectName(QStringLiteral("mainWindow"));
  setWindowTitle(tr("Sotto"));
  setWindowIcon(app_icon());
  resize(320, 560);

  auto* central = new QWidget;
  auto* layout = new QVBoxLayout(central);
  layout->setContentsMargins(6, 6, 6, 6);

  status_ = new QComboBox;
  status_->setObjectName(QStringLiteral("status"));
  status_->setAccessibleName(tr("My status"));
  for (app::Availability availability : kStatuses) {
    status_->addItem(presence_icon(availability), availability_text(availability));
  }
  connect(status_, qOverload<int>(&QComboBox::activated), this, &MainWindow::change_status);
  layout->addWidget(status_);

  requests_ = new QPushButton;
  requests_->setObjectName(QStringLiteral("requests"));
  // A palette, not a style sheet: the first style sheet costs ~15 ms of startup.
  QPalette notice = requests_->palette();
  notice.setColor(QPalette::Button, QColor(0xff, 0xf3, 0xcd));
  notice.setColor(QPalette::ButtonText, QColor(0x66, 0x4d, 0x03));
  requests_->setPalette(notice);
  requests_->hide();
  connect(requests_, &QPushButton::clicked, this, &MainWindow::show_requests);
  layout->addWidget(requests_);

  dial_ = new DialBar(state_, central);
  connect(dial_, &DialBar::callStarted, this,
          [this](const QString& id) { show_call(id.toStdString()); });
  connect(dial_, &DialBar::chatRequested, this,
          [this](const QString& account, const QString& peer) {
            chats_->open_chat(account.toStdString(), peer.toStdString(), true);
          });
  layout->addWidget(dial_);

  filter_ = new QLineEdit;
  filter_->setObjectName(QStringLiteral("filter"));
  filter_->setPlaceholderText(tr("Search contacts (Ctrl+F)"));
  filter_->setClearButtonEnabled(true);
  layout->addWidget(filter_);

  contacts_ = new ContactList(state_);
  contacts_->setContextMenuPolicy(Qt::CustomContextMenu);
  connect(contacts_, &QWidget::customContextMenuRequested, this, &MainWindow::contact_menu);
  connect(filter_, &QLineEdit::textChanged, contacts_, &ContactList::set_filter);
  connect(filter_, &QLineEdit::returnPressed, this, [this] {
    contacts_->setFocus();
    if (contacts_->visible_contacts() > 0) {
      contacts_->setCurrentIndex(contacts_->model()->index(0, 0, contacts_->model()->index(0, 0)));
    }
  });
  connect(contacts_, &ContactList::contactActivated, this,
          [this](const QString& account, const QString& address) {
            state_.mark_read(account.toStdString(), address.toStdString());
            chats_->open_chat(account.toStdString(), address.toStdString(), true);
          });
  layout->addWidget(contacts_, 1);

  auto* accounts_label = new QLabel(tr("Accounts"));
  QFont bold = accounts_label->font();
  bold.setBold(true);
  accounts_label->setFont(bold);
  layout->addWidget(accounts_label);
  accounts_ = new QListWidget;
  accounts_->setObjectName(QStringLiteral("accounts"));
  accounts_->setAccessibleName(tr("Accounts"));
  accounts_->setMaximumHeight(90);
  accounts_->setContextMenuPolicy(Qt::CustomContextMenu);
  connect(accounts_, &QListWidget::itemActivated, this, [this](QListWidgetItem* item) {
    const std::string account = item->data(Qt::UserRole).toString().toStdString();
    const auto state = state_.account_state(account);
    if (state == app::AccountState::offline || state == app::AccountState::failed) {
      connect_account(account, false);
    }
  });
  connect(accounts_, &QWidget::customContextMenuRequested, this, [this](const QPoint& pos) {
    QListWidgetItem* item = accounts_->itemAt(pos);
    if (item == nullptr) return;
    const std::string account = item->data(Qt::UserRole).toString().toStdString();
    QMenu menu;
    const auto state = state_.account_state(account);
    const bool down = state == app::AccountState::offline || state == app::AccountState::failed;
    menu.addAction(down ? tr("&Connect") : tr("&Disconnect"), this, [this, account, down] {
      if (down) {
        connect_account(account, false);
      } else {
        state_.core().post([account](app::Engine& engine) { engine.disconnect(account); });
      }
    });
    menu.addAction(tr("&Edit…"), this, [this, account] {
      EditAccountDialog dialog(state_.core(), account, this);
      dialog.set_availability(state_.my_availability());
      dialog.exec();
      state_.reload();
    });
    if (const app::AccountSettings* settings = state_.account(account);
        settings != nullptr && settings->protocol != "sip") {
      menu.addAction(tr("Change &password…"), this, [this, account] {
        ChangePasswordDialog(state_.core(), account, this).exec();
      });
    }
    menu.exec(accounts_->viewport()->mapToGlobal(pos));
  });
  layout->addWidget(accounts_);
  setCentralWidget(central);

  chats_ = new ChatWindow(state_);

  build_menus();

  if (QSystemTrayIcon::isSystemTrayAvailable()) {
    tray_ = new QSystemTrayIcon(app_icon(), this);
    tray_->setToolTip(tr("Sotto"));
    auto* menu = new QMenu(this);
    menu->addAction(tr("&Show or hide Sotto"), this, &MainWindow::toggle_visible);
    menu->addSeparator();
    menu->addAction(tr("&Quit"), this, &MainWindow::quit);
    tray_->setContextMenu(menu);
    connect(tray_, &QSystemTrayIcon::activated, this, [this](QSystemTrayIcon::ActivationReason r) {
      if (r == QSystemTrayIcon::Trigger) toggle_visible();
    });
    connect(tray_, &QSystemTrayIcon::messageClicked, this, [this] {
      if (tray_clicked_) {
        tray_clicked_();
        return;
      }
      chats_->show();
      chats_->raise();
      chats_->activateWindow();
    });
    tray_->show();
  }

  connect(&state_.core(), &Core::event, this, &MainWindow::on_event);
  connect(&state_, &State::accountsChanged, this, &MainWindow::refresh_accounts);
  connect(&state_, &State::unreadChanged, this, &MainWindow::refresh_unread);
  connect(&state_, &State::requestsChanged, this, &MainWindow::show_requests);
  connect(&state_, &State::callChanged, this, &MainWindow::on_call_changed);
  refresh_accounts();
  refresh_unread();
}

MainWindow::~MainWindow() { delete chats_; }

void MainWindow::build_menus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  file->addAction(tr("Add &account…"), this, &MainWindow::add_account);
  QAction* add = file->addAction(tr("Add &contact…"), this, &MainWindow::add_contact);
  add->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_N));
  file->addAction(tr("Create &group…"), this, &MainWindow::create_group);
  file->addSeparator();
  QAction* close = file->addAction(tr("&Close window"), this, &QWidget::close);
  close->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_W));
  QAction* quit = file->addAction(tr("&Quit"), this, &MainWindow::quit);
  quit->setShortcut(QKeySequence::Quit);

  QMenu* view = menuBar()->addMenu(tr("&View"));
  QAction* history = view->addAction(tr("&History"), this, &MainWindow::show_history);
  history->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_H));
  QAction* chats = view->addAction(tr("&Chats"), this, [this] {
    chats_->show();
    chats_->raise();
    chats_->activateWindow();
  });
  chats->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_T));
  QAction* find = view->addAction(tr("&Find contact"), this, [this] {
    filter_->setFocus();
    filter_->selectAll();
  });
  find->setShortcut(QKeySequence::Find);
  QAction* dial = view->addAction(tr("Call or &message…"), this, [this] {
    if (!dial_->isVisible()) {
      QMessageBox::information(this, tr("Calls"),
                               tr("Add a SIP account to make calls (File > Add account)."));
      return;
    }
    showNormal();
    raise();
    activateWindow();
    dial_->field()->setFocus();
    dial_->field()->selectAll();
  });
  dial->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_D));

  QMenu* tools = menuBar()->addMenu(tr("&Tools"));
  QAction* options = tools->addAction(tr("&Options…"), this, &MainWindow::show_options);
  options->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Comma));

  QMenu* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&About Sotto"), this, [this] {
    QMessageBox::about(
        this, tr("About Sotto"),
        tr("<h3>Sotto %1</h3><p>Private chat over the accounts you already have.</p>"
           "<p>Conversations are made private with OTR; your history, keys and passwords are "
           "encrypted on this computer.</p><p>Profile: %2</p>")
            .arg(QStringLiteral(SOTTO_VERSION),
                 QString::fromStdString(state_.core().profile_dir().string()).toHtmlEscaped()));
  });
}

AuthorizationDialog* MainWindow::authorization_dialog(const std::string& account,
                                                      const std::string& address) const {
  auto it = authorization_dialogs_.find(account + "\n" + address);
  return it == authorization_dialogs_.end() ? nullptr : it->second.data();
}

void MainWindow::connect_accounts() {
  const auto accounts = state_.accounts();  // a copy: see connect_account()
  for (const auto& account : accounts) {
    const auto state = state_.account_state(account.address);
    if (state == app::AccountState::offline || state == app::AccountState::failed) {
      connect_account(account.address, false);
    }
  }
}

void MainWindow::connect_account(std::string account, bool ask_password) {
  const app::AccountSettings* settings = state_.account(account);
  if (settings == nullptr || state_.my_availability() == app::Availability::offline) return;
  std::optional<std::string> password;
  if (ask_password || !settings->remember_password) {
    if (asking_[account]) return;
    asking_[account] = true;
    bool ok = false;
    const QString text = QInputDialog::getText(
        this, tr("Password"),
        ask_password ? tr("The password for %1 was not accepted. Enter it again:")
                           .arg(QString::fromStdString(account))
                     : tr("Password for %1:").arg(QString::fromStdString(account)),
        QLineEdit::Password, QString(), &ok);
    asking_[account] = false;
    if (!ok || text.isEmpty()) return;
    password = text.toStdString();
  }
  const app::Availability availability = state_.my_availability();
  auto result = state_.core().sync([&](app::Engine& engine) {
    return engine.connect(account, std::move(password), availability, {});
  });
  if (!result) account_failed(account, result.error());
}

void MainWindow::account_failed(std::string account, Error error) {
  // The account wizard answers for the account it is setting up.
  if (quitting_ || asking_[account] || AccountWizard::is_setting_up(account)) return;
  if (error.code == Errc::certificate && !error.detail.empty()) {
    asking_[account] = true;
    const app::AccountSettings* settings = state_.account(account);
    const QString server = settings && !settings->host.empty()
                               ? QString::fromStdString(settings->host)
                               : QString::fromStdString(account.substr(account.find('@') + 1));
    const bool trust = ask_to_trust_certificate(this, QString::fromStdString(account), server,
                                                QString::fromStdString(error.detail),
                                                QString::fromStdString(error.message));
    asking_[account] = false;
    if (!trust) return;
    auto pinned = state_.core().sync(
        [&](app::Engine& engine) { return engine.pin_certificate(account, error.detail); });
    if (pinned) {
      state_.reload();
      connect_account(account, false);
    }
  } else if (error.code == Errc::auth) {
    connect_account(account, true);
  }
}

void MainWindow::refresh_accounts() {
  accounts_->clear();
  const auto accounts = state_.accounts();  // a copy: see connect_account()
  for (const auto& account : accounts) {
    const auto state = state_.account_state(account.address);
    const app::Availability shown =
        state == app::AccountState::online ? state_.my_availability() : app::Availability::offline;
    const QString state_text = account_state_text(state, account.protocol);
    auto* item = new QListWidgetItem(
        presence_icon(shown),
        QStringLiteral("%1 — %2").arg(QString::fromStdString(account.address), state_text));
    item->setData(Qt::UserRole, QString::fromStdString(account.address));
    QString tip = account.protocol == "sip" ? tr("SIP account: %1").arg(state_text) : state_text;
    if (auto error = state_.account_error(account.address)) {
      tip += QStringLiteral("\n") + QString::fromStdString(error->message);
      item->setForeground(QColor(192, 57, 43));
    }
    item->setToolTip(tip);
    accounts_->addItem(item);
  }
  accounts_->setVisible(!state_.accounts().empty());
}

void MainWindow::refresh_unread() {
  const int unread = state_.total_unread();
  setWindowTitle(unread > 0 ? tr("(%1) Sotto").arg(unread) : tr("Sotto"));
  const QIcon icon = app_icon(unread);
  if (tray_ != nullptr) {
    tray_->setIcon(icon);
    tray_->setToolTip(unread == 0   ? tr("Sotto")
                      : unread == 1 ? tr("Sotto: 1 unread message")
                                    : tr("Sotto: %1 unread messages").arg(unread));
  }
  setWindowIcon(icon);
}

void MainWindow::change_status(int index) {
  if (index < 0 || index >= static_cast<int>(std::size(kStatuses))) return;
  const app::Availability availability = kStatuses[index];
  state_.set_my_availability(availability);
  if (availability == app::Availability::offline) {
    state_.core().post([](app::Engine& engine) { engine.disconnect_all(); });
    return;
  }
  const auto accounts = state_.accounts();  // a copy: see connect_account()
  for (const auto& account : accounts) {
    const auto state = state_.account_state(account.address);
    if (state == app::AccountState::offline || state == app::AccountState::failed) {
      connect_account(account.address, false);
    } else {
      state_.core().post([address = account.address, availability](app::Engine& engine) {
        (void)engine.set_presence(address, availability, {});
      });
    }
  }
  refresh_accounts();
}

void MainWindow::on_event(const app::Event& event) {
  if (const auto* e = std::get_if<app::AccountStateChanged>(&event)) {
    if (e->state == app::AccountState::failed && e->error) account_failed(e->account, *e->error);
  } else if (const auto* e = std::get_if<app::MessageReceived>(&event)) {
    if (e->outgoing || e->body.empty() || e->from_archive) return;
    ChatView* view = chats_->view(e->account, e->peer);
    const bool seen = view != nullptr && chats_->isActiveWindow() && chats_->current_view() == view;
    if (!seen) {
      // Only who wrote: the text would show on a locked screen and in
      // notification logs.
      notify(tr("New message"), tr("%1 wrote to you%2")
                                    .arg(state_.display_name(e->account, e->peer).toHtmlEscaped(),
                                         e->encrypted ? tr(" (private)") : QString()));
    }
  } else if (const auto* e = std::get_if<app::OtrKeyChanged>(&event)) {
    notify(tr("Security warning"),
           tr("The key of %1 has changed. Authenticate them before you trust the conversation.")
               .arg(state_.display_name(e->account, e->peer).toHtmlEscaped()));
  } else if (const auto* e = std::get_if<app::AuthorizationRequested>(&event)) {
    notify(tr("Authorization request"),
           tr("%1 wants to add you to their contacts.")
               .arg(QString::fromStdString(e->address).toHtmlEscaped()));
  }
}

CallWindow* MainWindow::call_window(const std::string& id) const {
  auto it = call_windows_.find(id);
  return it == call_windows_.end() ? nullptr : it->second.data();
}

IncomingCallDialog* MainWindow::incoming_call_dialog(const std::string& id) const {
  auto it = ringing_.find(id);
  return it == ringing_.end() ? nullptr : it->second.data();
}

CallWindow* MainWindow::show_call(const std::string& id) {
  QPointer<CallWindow>& window = call_windows_[id];
  if (!window) {
    if (state_.call(id) == nullptr) {
      call_windows_.erase(id);
      return nullptr;
    }
    window = new CallWindow(state_, id);
    window->setAttribute(Qt::WA_DeleteOnClose);
    window->show();
  }
  window->raise();
  window->activateWindow();
  return window;
}

void MainWindow::on_call_changed(const QString& changed) {
  const std::string id = changed.toStdString();
  const app::CallInfo* known = state_.call(id);
  if (known == nullptr) return;
  const app::CallInfo call = *known;  // a copy: the next event may move it
  // Answered or refused dialogs are deleted later: they no longer count.
  for (auto it = ringing_.begin(); it != ringing_.end();) {
    it = it->second && it->second->isVisible() ? std::next(it) : ringing_.erase(it);
  }
  // Windows the user closed stay listed until their call has ended, so that
  // the end does not open them again.
  for (auto it = call_windows_.begin(); it != call_windows_.end();) {
    const app::CallInfo* other = it->first == id ? nullptr : state_.call(it->first);
    const bool over = other == nullptr || other->state == app::CallState::ended;
    it = it->second || (it->first == id || !over) ? std::next(it) : call_windows_.erase(it);
  }
  const QString name = call_peer_name(state_, call);
  switch (call.state) {
    case app::CallState::incoming: {
      if (ringing_.count(id) > 0) return;
      if (ringing_.size() >= kMaxRinging) {
        // A flood of calls must not open a flood of windows.
        state_.core().post([id](app::Engine& engine) { (void)engine.reject_call(id, true); });
        return;
      }
      auto* dialog = new IncomingCallDialog(state_, id, this);
      dialog->setAttribute(Qt::WA_DeleteOnClose);
      ringing_[id] = dialog;
      dialog->show();
      QApplication::alert(dialog);
      // Who, nothing else: it shows on a locked screen.
      notify(tr("Incoming call"), tr("Call from %1").arg(name.toHtmlEscaped()), [this, id] {
        if (IncomingCallDialog* ringing = incoming_call_dialog(id)) {
          ringing->raise();
          ringing->activateWindow();
        }
      });
      break;
    }
    case app::CallState::calling:
    case app::CallState::ringing:
    case app::CallState::active:
      if (call_windows_.count(id) == 0) {
        auto* window = new CallWindow(state_, id);
        window->setAttribute(Qt::WA_DeleteOnClose);
        call_windows_[id] = window;
        window->show();
        if (!call.outgoing) {
          window->raise();
          window->activateWindow();
        }
      }
      break;
    case app::CallState::ended: {
      // A call that failed at once still says why.
      if (call.outgoing && call_windows_.count(id) == 0) {
        auto* window = new CallWindow(state_, id);
        window->setAttribute(Qt::WA_DeleteOnClose);
        call_windows_[id] = window;
        window->show();
      }
      const bool missed = !call.outgoing && !call.connected &&
                          (call.end_reason == app::CallEndReason::cancelled ||
                           call.end_reason == app::CallEndReason::no_answer);
      if (missed) {
        notify(tr("Missed call"), tr("Missed call from %1").arg(name.toHtmlEscaped()), [this] {
          show_history();
          history_->show_calls();
        });
      }
      break;
    }
  }
}

void MainWindow::notify(const QString& title, const QString& text, std::function<void()> clicked) {
  tray_clicked_ = std::move(clicked);
  if (tray_ != nullptr && tray_->isVisible()) {
    tray_->showMessage(title, text, app_icon(), 8000);
  } else {
    QApplication::alert(this);
  }
}

void MainWindow::show_requests() {
  const auto& requests = state_.requests();
  requests_->setText(requests.size() == 1
                         ? tr("1 authorization request waiting")
                         : tr("%1 authorization requests waiting").arg(requests.size()));
  requests_->setVisible(!requests.empty());
  for (auto it = authorization_dialogs_.begin(); it != authorization_dialogs_.end();) {
    it = it->second ? std::next(it) : authorization_dialogs_.erase(it);
  }
  // One request at a time, oldest first: a flood of requests must not open a
  // flood of windows. Answering (or closing) it shows the next.
  if (!authorization_dialogs_.empty() || requests.empty()) return;
  const app::AuthorizationRequested request = requests.front();
  auto* dialog = new AuthorizationDialog(state_, request, this);
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  authorization_dialogs_[request.account + "\n" + request.address] = dialog;
  connect(dialog, &QObject::destroyed, this,
          [this] { QTimer::singleShot(0, this, &MainWindow::show_requests); });
  dialog->show();
}

void MainWindow::add_account() {
  auto* wizard = new AccountWizard(state_, this);
  wizard->setAttribute(Qt::WA_DeleteOnClose);
  connect(wizard, &QDialog::finished, this, [this] { state_.reload(); });
  wizard->open();
}

void MainWindow::add_contact() {
  auto* dialog = new AddContactDialog(state_, contacts_->group_names(), this);
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  const auto [account, address] = contacts_->selected_contact();
  if (!account.empty()) dialog->set_account(account);
  dialog->open();
}

void MainWindow::create_group() {
  bool ok = false;
  const QString name =
      QInputDialog::getText(this, tr("Create group"),
                            tr("Name of the new group. It is kept on the server once a contact "
                               "is in it (right-click a contact, Edit)."),
                            QLineEdit::Normal, QString(), &ok)
          .trimmed();
  if (ok && !name.isEmpty()) contacts_->add_empty_group(name);
}

void MainWindow::show_history() {
  if (!history_) history_ = new HistoryWindow(state_);
  history_->setAttribute(Qt::WA_DeleteOnClose);
  const auto [account, address] = contacts_->selected_contact();
  if (!account.empty()) history_->show_conversation(account, address);
  history_->show();
  history_->raise();
  history_->activateWindow();
}

void MainWindow::show_options() {
  if (!options_) {
    options_ = new OptionsDialog(state_, this);
    options_->setAttribute(Qt::WA_DeleteOnClose);
    connect(options_, &OptionsDialog::addAccountRequested, this, &MainWindow::add_account);
  }
  options_->show();
  options_->raise();
  options_->activateWindow();
}

void MainWindow::contact_menu(const QPoint& pos) {
  const QModelIndex index = contacts_->indexAt(pos);
  const std::string account = index.data(ContactList::kAccountRole).toString().toStdString();
  const std::string address = index.data(ContactList::kAddressRole).toString().toStdString();
  QMenu menu;
  if (address.empty()) {
    menu.addAction(tr("Add &contact…"), this, &MainWindow::add_contact);
    menu.addAction(tr("Create &group…"), this, &MainWindow::create_group);
    menu.exec(contacts_->viewport()->mapToGlobal(pos));
    return;
  }
  menu.addAction(tr("Send &message"), this,
                 [this, account, address] { chats_->open_chat(account, address, true); });
  menu.addAction(tr("&Edit name and group…"), this, [this, account, address] {
    EditContactDialog(state_, account, address, contacts_->group_names(), this).exec();
  });
  if (const app::Contact* contact = state_.contact(account, address);
      contact != nullptr && (contact->subscription == "none" || contact->subscription == "from")) {
    menu.addAction(tr("&Ask again for authorization"), this, [this, account, address] {
      const app::Contact* c = state_.contact(account, address);
      state_.core().post([account, address, name = c ? c->name : std::string(),
                          groups = c ? c->groups : std::vector<std::string>()](app::Engine& e) {
        e.add_contact(account, address, name, groups, [](Result<void>) {});
      });
    });
  }
  menu.addAction(tr("&History"), this, [this, account, address] {
    show_history();
    history_->show_conversation(account, address);
  });
  menu.addSeparator();
  menu.addAction(tr("&Remove contact…"), this, [this, account, address] {
    const QString name = state_.display_name(account, address);
    QMessageBox box(QMessageBox::Question, tr("Remove contact"),
                    tr("Remove %1 from your contacts? They will no longer see when you are "
                       "online. History is kept.")
                        .arg(name),
                    QMessageBox::Yes | QMessageBox::No, this);
    box.setTextFormat(Qt::PlainText);  // the name is the contact's to choose
    if (box.exec() != QMessageBox::Yes) return;
    state_.core().post([account, address](app::Engine& engine) {
      engine.remove_contact(account, address, [](Result<void>) {});
    });
  });
  menu.exec(contacts_->viewport()->mapToGlobal(pos));
}

void MainWindow::open_uri(const QString& uri) {
  const QUrl url(uri);
  if (url.scheme() != QLatin1String("xmpp")) return;
  QString path = url.path();
  if (path.startsWith(QLatin1String("//"))) path = path.mid(path.indexOf('/', 2) + 1);
  const QString address = QUrl::fromPercentEncoding(path.toUtf8()).trimmed();
  if (address_problem(address)) {
    QMessageBox::warning(
        this, tr("Cannot open link"),
        tr("This link does not hold a valid address: %1").arg(uri.toHtmlEscaped()));
    return;
  }
  // ?message;body=… or ?roster;name=… (RFC 5122 uses ';' between pairs)
  const QString query = url.query(QUrl::FullyDecoded);
  const QString action = query.section(QLatin1Char(';'), 0, 0);
  QString name;
  for (const QString& pair : query.split(QLatin1Char(';')).mid(1)) {
    if (pair.startsWith(QLatin1String("name="))) name = pair.mid(5);
  }
  std::string account;
  for (const auto& contact : state_.contacts()) {
    if (QString::fromStdString(contact.address).compare(address, Qt::CaseInsensitive) == 0) {
      account = contact.account;
    }
  }
  showNormal();
  raise();
  activateWindow();
  if (!account.empty() && action != QLatin1String("roster") &&
      action != QLatin1String("subscribe")) {
    chats_->open_chat(account, address.toLower().toStdString(), true);
    return;
  }
  if (state_.accounts().empty()) {
    QMessageBox::information(this, tr("No account"),
                             tr("Add an account first (File > Add account)."));
    return;
  }
  if (action == QLatin1String("message") || action.isEmpty()) {
    chats_->open_chat(state_.accounts().front().address, address.toLower().toStdString(), true);
    return;
  }
  auto* dialog = new AddContactDialog(state_, contacts_->group_names(), this);
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  dialog->set_address(address);
  dialog->set_name(name);
  dialog->open();
}

void MainWindow::toggle_visible() {
  if (isVisible() && !isMinimized()) {
    hide();
  } else {
    showNormal();
    raise();
    activateWindow();
  }
}

void MainWindow::quit() {
  if (quitting_) return;
  quitting_ = true;
  hide();
  chats_->hide();
  if (tray_ != nullptr) tray_->hide();
  state_.core().shut_down([] { QApplication::quit(); });
}

void MainWindow::closeEvent(QCloseEvent* event) {
  if (!quitting_ && tray_ != nullptr && tray_->isVisible()) {
    hide();
    event->ignore();
    return;
  }
  event->ignore();
  quit();
}

void MainWindow::changeEvent(QEvent* event) {
  if (event->type() == QEvent::ActivationChange && isActiveWindow()) refresh_unread();
  QMainWindow::changeEvent(event);
}

bool MainWindow::event(QEvent* event) {
  const bool handled = QMainWindow::event(event);
  if (event->type() == QEvent::Paint && first_paint_) {
    auto callback = std::move(first_paint_);
    first_paint_ = nullptr;
    callback();
  }
  return handled;
}

}  // namespace sotto::desktop
