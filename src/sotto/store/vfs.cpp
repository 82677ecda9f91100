// The "sotto-aead" VFS: XChaCha20-Poly1305 over every page of the main
// database and every page image in its WAL. Format: docs/storage.md.
#include <sodium.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#include "sotto/store/internal.h"

namespace sotto::store {
namespace detail {

KeyBuffer::KeyBuffer() {
  bytes = static_cast<unsigned char*>(sodium_malloc(kKeySize));
  if (bytes == nullptr) throw std::bad_alloc();
}

KeyBuffer::~KeyBuffer() { sodium_free(bytes); }  // sodium_free wipes first

namespace {

constexpr std::size_t kNonceSize = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;  // 24
constexpr std::size_t kTagSize = crypto_aead_xchacha20poly1305_ietf_ABYTES;       // 16
static_assert(kNonceSize + kTagSize == kReserveBytes);

constexpr int kPlainPrefix = 24;  // bytes of page 1 left readable
constexpr int kWalHeader = 32;
constexpr int kFrameHeader = 24;
constexpr int kFrameHeaderBound = 16;  // AD bytes after the frame index: header[0..8) + salts

std::mutex& keys_mutex() {
  static auto* mutex = new std::mutex;
  return *mutex;
}

std::unordered_map<std::string, std::shared_ptr<KeyBuffer>>& keys() {
  static auto* map = new std::unordered_map<std::string, std::shared_ptr<KeyBuffer>>;
  return *map;
}

std::shared_ptr<KeyBuffer> find_key(const char* token) {
  if (token == nullptr) return nullptr;
  std::lock_guard lock(keys_mutex());
  auto it = keys().find(token);
  return it == keys().end() ? nullptr : it->second;
}

void put_le64(unsigned char* out, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<unsigned char>(value >> (8 * i));
}

std::uint32_t get_be32(const unsigned char* in) {
  return (std::uint32_t{in[0]} << 24) | (std::uint32_t{in[1]} << 16) | (std::uint32_t{in[2]} << 8) |
         std::uint32_t{in[3]};
}

bool valid_page_size(std::int64_t size) {
  return size >= 512 && size <= 65536 && (size & (size - 1)) == 0;
}

bool all_zero(const unsigned char* data, std::size_t size) {
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] != 0) return false;
  }
  return true;
}

// Associated data. Main database page: "sottoDB1" || le64(pgno) || (page 1
// only) its 24 plaintext bytes. WAL page image: "sottoWL2" || le64(frame
// index) || frame header bytes 0..7 (page number, commit size) || the WAL
// generation's salts (see frame_salts()).
struct Ad {
  unsigned char bytes[8 + 8 + 24];
  std::size_t size = 0;
};

Ad db_ad(std::uint32_t pgno, const unsigned char* page) {
  Ad ad;
  std::memcpy(ad.bytes, "sottoDB1", 8);
  put_le64(ad.bytes + 8, pgno);
  ad.size = 16;
  if (pgno == 1) {
    std::memcpy(ad.bytes + 16, page, kPlainPrefix);
    ad.size += kPlainPrefix;
  }
  return ad;
}

Ad wal_ad(std::uint64_t frame, const unsigned char* frame_header, const unsigned char* salts) {
  Ad ad;
  std::memcpy(ad.bytes, "sottoWL2", 8);
  put_le64(ad.bytes + 8, frame);
  std::memcpy(ad.bytes + 16, frame_header, 8);
  std::memcpy(ad.bytes + 24, salts, 8);
  ad.size = 16 + kFrameHeaderBound;
  return ad;
}

// Encrypts data[0, size) in place; the nonce and tag go to trailer[0, 40).
void seal(const KeyBuffer& key, const Ad& ad, unsigned char* data, std::size_t size,
          unsigned char* trailer) {
  randombytes_buf(trailer, kNonceSize);
  unsigned long long tag_size = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt_detached(data, trailer + kNonceSize, &tag_size, data,
                                                      size, ad.bytes, ad.size, nullptr, trailer,
                                                      key.bytes);
}

// Verifies and decrypts data[0, size) in place, then zeroes the trailer (the
// WAL checksums cover the plaintext page with zero reserved bytes).
bool unseal(const KeyBuffer& key, const Ad& ad, unsigned char* data, std::size_t size,
            unsigned char* trailer) {
  if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(data, nullptr, data, size,
                                                          trailer + kNonceSize, ad.bytes, ad.size,
                                                          trailer, key.bytes) != 0) {
    return false;
  }
  std::memset(trailer, 0, kReserveBytes);
  return true;
}

void seal_db_page(const KeyBuffer& key, std::uint32_t pgno, unsigned char* page, int page_size) {
  const int start = pgno == 1 ? kPlainPrefix : 0;
  const int end = page_size - kReserveBytes;
  seal(key, db_ad(pgno, page), page + start, static_cast<std::size_t>(end - start), page + end);
}

// ---------------------------------------------------------------------------
// Files

sqlite3_vfs* g_root = nullptr;

enum class Kind { db, wal };

struct State {
  Kind kind = Kind::db;
  std::shared_ptr<KeyBuffer> key;
  int page_size = 0;  // 0 until known
  std::vector<unsigned char> scratch;
  // The last WAL frame header written, for the page image that follows it.
  sqlite3_int64 header_offset = -1;
  unsigned char header[kFrameHeader] = {};
  // The WAL generation's salts as this connection last wrote or read them in
  // the WAL header or wrote them in a frame header.
  unsigned char salts[8] = {};
  bool salts_known = false;

  void remember_salts(const unsigned char* from) {
    std::memcpy(salts, from, 8);
    salts_known = true;
  }

  unsigned char* buffer(std::size_t size) {
    if (scratch.size() < size) scratch.resize(size);
    return scratch.data();
  }
};

struct AeadFile {
  sqlite3_file base;
  State* state;
};

constexpr int kRealOffset = (sizeof(AeadFile) + 15) & ~15;

sqlite3_file* real(sqlite3_file* file) {
  return reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + kRealOffset);
}

State& state(sqlite3_file* file) { return *reinterpret_cast<AeadFile*>(file)->state; }

int real_read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  sqlite3_file* r = real(file);
  return r->pMethods->xRead(r, out, amount, offset);
}

int real_write(sqlite3_file* file, const void* in, int amount, sqlite3_int64 offset) {
  sqlite3_file* r = real(file);
  return r->pMethods->xWrite(r, in, amount, offset);
}

// --- main database ---------------------------------------------------------

// Learns the page size from the plaintext prefix of page 1. SQLITE_IOERR_SHORT_READ
// if the file has no header yet.
int db_page_size(sqlite3_file* file) {
  State& st = state(file);
  if (st.page_size != 0) return SQLITE_OK;
  unsigned char prefix[kPlainPrefix];
  const int rc = real_read(file, prefix, kPlainPrefix, 0);
  if (rc != SQLITE_OK) return rc;
  int size = (prefix[16] << 8) | prefix[17];
  if (size == 1) size = 65536;
  if (!valid_page_size(size) || prefix[20] != kReserveBytes) return SQLITE_IOERR_DATA;
  st.page_size = size;
  return SQLITE_OK;
}

int db_read(sqlite3_file* file, void* out_void, int amount, sqlite3_int64 offset) {
  auto* out = static_cast<unsigned char*>(out_void);
  State& st = state(file);
  int rc = db_page_size(file);
  if (rc == SQLITE_IOERR_SHORT_READ) {
    // No header yet: a new, empty database reads as zeros.
    rc = real_read(file, out, amount, offset);
    if (rc == SQLITE_IOERR_SHORT_READ && all_zero(out, static_cast<std::size_t>(amount))) return rc;
    if (rc == SQLITE_OK || rc == SQLITE_IOERR_SHORT_READ) {
      std::memset(out, 0, static_cast<std::size_t>(amount));
      return SQLITE_IOERR_DATA;
    }
    return rc;
  }
  if (rc != SQLITE_OK) {
    std::memset(out, 0, static_cast<std::size_t>(amount));
    return rc;
  }
  const int page_size = st.page_size;
  bool short_read = false;
  const sqlite3_int64 end = offset + amount;
  for (sqlite3_int64 page_start = offset - offset % page_size; page_start < end;
       page_start += page_size) {
    const auto pgno = static_cast<std::uint32_t>(page_start / page_size + 1);
    const sqlite3_int64 lo = std::max(page_start, offset);
    const sqlite3_int64 hi = std::min(page_start + page_size, end);
    const bool whole = lo == page_start && hi == page_start + page_size;
    unsigned char* page = whole ? out + (page_start - offset) : st.buffer(page_size);
    rc = real_read(file, page, page_size, page_start);
    if (rc == SQLITE_IOERR_SHORT_READ && all_zero(page, static_cast<std::size_t>(page_size))) {
      short_read = true;  // beyond the end of the file
    } else if (rc != SQLITE_OK) {
      std::memset(out, 0, static_cast<std::size_t>(amount));
      return rc == SQLITE_IOERR_SHORT_READ ? SQLITE_IOERR_DATA : rc;
    } else if (!decrypt_db_page(*st.key, pgno, page, static_cast<std::size_t>(page_size))) {
      std::memset(out, 0, static_cast<std::size_t>(amount));
      std::memset(page, 0, static_cast<std::size_t>(page_size));
      sqlite3_log(SQLITE_IOERR_DATA, "sotto-aead: page %u failed authentication", pgno);
      return SQLITE_IOERR_DATA;
    }
    if (!whole) std::memcpy(out + (lo - offset), page + (lo - page_start), hi - lo);
  }
  return short_read ? SQLITE_IOERR_SHORT_READ : SQLITE_OK;
}

int db_write(sqlite3_file* file, const void* in, int amount, sqlite3_int64 offset) {
  State& st = state(file);
  const auto* data = static_cast<const unsigned char*>(in);
  if (!valid_page_size(amount) || offset % amount != 0 ||
      (st.page_size != 0 && st.page_size != amount)) {
    sqlite3_log(SQLITE_IOERR_WRITE, "sotto-aead: partial page write refused");
    return SQLITE_IOERR_WRITE;
  }
  if (offset == 0) {
    int size = (data[16] << 8) | data[17];
    if (size == 1) size = 65536;
    if (size != amount || data[20] != kReserveBytes) {
      sqlite3_log(SQLITE_IOERR_WRITE, "sotto-aead: page 1 lacks the 40 reserved bytes");
      return SQLITE_IOERR_WRITE;
    }
    st.page_size = amount;
  }
  unsigned char* page = st.buffer(amount);
  std::memcpy(page, data, static_cast<std::size_t>(amount));
  seal_db_page(*st.key, static_cast<std::uint32_t>(offset / amount + 1), page, amount);
  const int rc = real_write(file, page, amount, offset);
  sodium_memzero(page, static_cast<std::size_t>(amount));
  return rc;
}

// --- WAL -------------------------------------------------------------------

int wal_page_size(sqlite3_file* file) {
  State& st = state(file);
  if (st.page_size != 0) return SQLITE_OK;
  unsigned char header[kWalHeader];
  const int rc = real_read(file, header, kWalHeader, 0);
  if (rc != SQLITE_OK) return rc;
  const std::uint32_t size = get_be32(header + 8);
  if (!valid_page_size(size)) return SQLITE_IOERR_DATA;
  st.page_size = static_cast<int>(size);
  return SQLITE_OK;
}

// The salts a frame's image is sealed under: its WAL generation's. SQLite
// writes them into every frame header, except in a transaction that has
// rewritten one of its own frames: from then on walEncodeFrame leaves salts
// and checksum zero and walRewriteChecksums fills them in at commit (the
// image is not rewritten). A zero-salt header is this connection's own
// uncommitted frame, so the salts are the ones it last wrote.
const unsigned char* frame_salts(sqlite3_file* file, const unsigned char* frame_header) {
  State& st = state(file);
  if (!all_zero(frame_header + 8, 8)) return frame_header + 8;
  if (!st.salts_known) {
    unsigned char wal_header[kWalHeader];
    if (real_read(file, wal_header, kWalHeader, 0) == SQLITE_OK) st.remember_salts(wal_header + 16);
  }
  return st.salts;
}

// A page image of frame k failed its tag in a read that included the frame
// header (recovery). SQLite itself ignores frames whose salts differ from the
// WAL header's, and a crash between the frame header write and the image
// write leaves a frame like that at the end of the last transaction. Such a
// frame reads as zeros (its checksum then fails and SQLite ends the WAL
// before it: the last transaction is dropped, as after a crash). If a later
// transaction was committed after the one holding frame k, it is damage.
bool frame_may_be_torn(sqlite3_file* file, std::uint64_t k, const unsigned char* frame_header) {
  State& st = state(file);
  unsigned char wal_header[kWalHeader];
  if (real_read(file, wal_header, kWalHeader, 0) != SQLITE_OK) return false;
  if (std::memcmp(wal_header + 16, frame_header + 8, 8) != 0) return true;
  const sqlite3_int64 frame_size = kFrameHeader + st.page_size;
  int commits = 0;
  for (std::uint64_t j = k;; ++j) {
    unsigned char header[kFrameHeader];
    const sqlite3_int64 at = kWalHeader + static_cast<sqlite3_int64>(j) * frame_size;
    if (real_read(file, header, kFrameHeader, at) != SQLITE_OK) break;
    if (std::memcmp(wal_header + 16, header + 8, 8) != 0) break;
    if (get_be32(header + 4) != 0 && ++commits >= 2) return false;
  }
  return true;
}

int wal_read(sqlite3_file* file, void* out_void, int amount, sqlite3_int64 offset) {
  auto* out = static_cast<unsigned char*>(out_void);
  State& st = state(file);
  int rc = real_read(file, out, amount, offset);
  if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) return rc;
  const bool short_read = rc == SQLITE_IOERR_SHORT_READ;
  const sqlite3_int64 end = offset + amount;
  if (end <= kWalHeader) return rc;
  if (offset == 0 && !short_read) {
    const std::uint32_t size = get_be32(out + 8);
    if (valid_page_size(size)) st.page_size = static_cast<int>(size);
    st.remember_salts(out + 16);
  }
  if (const int size_rc = wal_page_size(file); size_rc != SQLITE_OK) {
    std::memset(out, 0, static_cast<std::size_t>(amount));
    return short_read ? rc : SQLITE_IOERR_DATA;
  }
  const sqlite3_int64 page_size = st.page_size;
  const sqlite3_int64 frame_size = kFrameHeader + page_size;
  const sqlite3_int64 first = offset < kWalHeader ? 0 : (offset - kWalHeader) / frame_size;
  const sqlite3_int64 last = (end - 1 - kWalHeader) / frame_size;
  for (sqlite3_int64 k = first; k <= last; ++k) {
    const sqlite3_int64 frame_start = kWalHeader + k * frame_size;
    const sqlite3_int64 image = frame_start + kFrameHeader;
    const sqlite3_int64 lo = std::max(image, offset);
    const sqlite3_int64 hi = std::min(image + page_size, end);
    if (lo >= hi) continue;
    unsigned char header[kFrameHeader];
    const bool header_in_buffer = frame_start >= offset && frame_start + kFrameHeader <= end;
    if (header_in_buffer) {
      std::memcpy(header, out + (frame_start - offset), kFrameHeader);
    } else if (real_read(file, header, kFrameHeader, frame_start) != SQLITE_OK) {
      std::memset(out + (lo - offset), 0, static_cast<std::size_t>(hi - lo));
      if (short_read) continue;
      return SQLITE_IOERR_DATA;
    }
    const bool whole = lo == image && hi == image + page_size;
    unsigned char* page = whole ? out + (image - offset) : st.buffer(page_size);
    if (!whole) {
      const int page_rc = real_read(file, page, static_cast<int>(page_size), image);
      if (page_rc != SQLITE_OK && page_rc != SQLITE_IOERR_SHORT_READ) return page_rc;
    }
    if (all_zero(page, static_cast<std::size_t>(page_size)) && short_read) continue;
    const std::size_t body = static_cast<std::size_t>(page_size - kReserveBytes);
    if (!unseal(*st.key, wal_ad(static_cast<std::uint64_t>(k), header, frame_salts(file, header)),
                page, body, page + body)) {
      std::memset(page, 0, static_cast<std::size_t>(page_size));
      if (!whole) std::memset(out + (lo - offset), 0, static_cast<std::size_t>(hi - lo));
      if (short_read ||
          (header_in_buffer && frame_may_be_torn(file, static_cast<std::uint64_t>(k), header))) {
        continue;
      }
      std::memset(out, 0, static_cast<std::size_t>(amount));
      sqlite3_log(SQLITE_IOERR_DATA, "sotto-aead: WAL frame %lld failed authentication",
                  static_cast<long long>(k));
      return SQLITE_IOERR_DATA;
    }
    if (!whole) std::memcpy(out + (lo - offset), page + (lo - image), hi - lo);
  }
  return rc;
}

int wal_write(sqlite3_file* file, const void* in, int amount, sqlite3_int64 offset) {
  State& st = state(file);
  const auto* data = static_cast<const unsigned char*>(in);
  if (offset == 0 && amount == kWalHeader) {
    const std::uint32_t size = get_be32(data + 8);
    if (valid_page_size(size)) st.page_size = static_cast<int>(size);
    st.remember_salts(data + 16);
    st.header_offset = -1;
    return real_write(file, in, amount, offset);
  }
  if (const int rc = wal_page_size(file); rc != SQLITE_OK) return SQLITE_IOERR_WRITE;
  const sqlite3_int64 page_size = st.page_size;
  const sqlite3_int64 frame_size = kFrameHeader + page_size;
  if (offset < kWalHeader) return SQLITE_IOERR_WRITE;
  const sqlite3_int64 k = (offset - kWalHeader) / frame_size;
  const sqlite3_int64 within = (offset - kWalHeader) % frame_size;
  const sqlite3_int64 frame_start = offset - within;
  const std::size_t body = static_cast<std::size_t>(page_size - kReserveBytes);

  if (within == 0 && amount == kFrameHeader) {
    // A header-only write is either the first half of a new frame or
    // walRewriteChecksums filling in salts and checksum: the image's AD does
    // not cover those, so the image stays valid.
    std::memcpy(st.header, data, kFrameHeader);
    st.header_offset = offset;
    if (!all_zero(data + 8, 8)) st.remember_salts(data + 8);
    return real_write(file, in, amount, offset);
  }
  if (within == 0 && amount == frame_size) {
    unsigned char* frame = st.buffer(static_cast<std::size_t>(frame_size));
    std::memcpy(frame, data, static_cast<std::size_t>(frame_size));
    unsigned char* page = frame + kFrameHeader;
    if (!all_zero(frame + 8, 8)) st.remember_salts(frame + 8);
    seal(*st.key, wal_ad(static_cast<std::uint64_t>(k), frame, frame_salts(file, frame)), page,
         body, page + body);
    const int rc = real_write(file, frame, amount, offset);
    sodium_memzero(frame, static_cast<std::size_t>(frame_size));
    return rc;
  }
  if (within == kFrameHeader && amount == page_size) {
    unsigned char header[kFrameHeader];
    if (st.header_offset == frame_start) {
      std::memcpy(header, st.header, kFrameHeader);
    } else if (real_read(file, header, kFrameHeader, frame_start) != SQLITE_OK) {
      return SQLITE_IOERR_WRITE;
    }
    st.header_offset = -1;
    unsigned char* page = st.buffer(static_cast<std::size_t>(page_size));
    std::memcpy(page, data, static_cast<std::size_t>(page_size));
    seal(*st.key, wal_ad(static_cast<std::uint64_t>(k), header, frame_salts(file, header)), page,
         body, page + body);
    const int rc = real_write(file, page, amount, offset);
    sodium_memzero(page, static_cast<std::size_t>(page_size));
    return rc;
  }
  sqlite3_log(SQLITE_IOERR_WRITE, "sotto-aead: unexpected WAL write (%d bytes at %lld)", amount,
              static_cast<long long>(offset));
  return SQLITE_IOERR_WRITE;
}

// --- io methods --------------------------------------------------------------

int x_close(sqlite3_file* file) {
  sqlite3_file* r = real(file);
  int rc = SQLITE_OK;
  if (r->pMethods != nullptr) rc = r->pMethods->xClose(r);
  delete reinterpret_cast<AeadFile*>(file)->state;
  reinterpret_cast<AeadFile*>(file)->state = nullptr;
  return rc;
}

int x_read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  return state(file).kind == Kind::db ? db_read(file, out, amount, offset)
                                      : wal_read(file, out, amount, offset);
}

int x_write(sqlite3_file* file, const void* in, int amount, sqlite3_int64 offset) {
  return state(file).kind == Kind::db ? db_write(file, in, amount, offset)
                                      : wal_write(file, in, amount, offset);
}

int x_truncate(sqlite3_file* file, sqlite3_int64 size) {
  state(file).header_offset = -1;
  sqlite3_file* r = real(file);
  return r->pMethods->xTruncate(r, size);
}

int x_sync(sqlite3_file* file, int flags) {
  sqlite3_file* r = real(file);
  return r->pMethods->xSync(r, flags);
}

int x_file_size(sqlite3_file* file, sqlite3_int64* size) {
  sqlite3_file* r = real(file);
  return r->pMethods->xFileSize(r, size);
}

int x_lock(sqlite3_file* file, int level) {
  sqlite3_file* r = real(file);
  return r->pMethods->xLock(r, level);
}

int x_unlock(sqlite3_file* file, int level) {
  sqlite3_file* r = real(file);
  return r->pMethods->xUnlock(r, level);
}

int x_check_reserved_lock(sqlite3_file* file, int* out) {
  sqlite3_file* r = real(file);
  return r->pMethods->xCheckReservedLock(r, out);
}

int x_file_control(sqlite3_file* file, int op, void* arg) {
  if (op == SQLITE_FCNTL_MMAP_SIZE) {
    // No memory-mapped I/O: it would bypass decryption.
    if (arg != nullptr) *static_cast<sqlite3_int64*>(arg) = 0;
    return SQLITE_OK;
  }
  sqlite3_file* r = real(file);
  return r->pMethods->xFileControl(r, op, arg);
}

int x_sector_size(sqlite3_file* file) {
  sqlite3_file* r = real(file);
  return r->pMethods->xSectorSize(r);
}

int x_device_characteristics(sqlite3_file* file) {
  sqlite3_file* r = real(file);
  return r->pMethods->xDeviceCharacteristics(r);
}

int x_shm_map(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  sqlite3_file* r = real(file);
  return r->pMethods->xShmMap(r, region, size, extend, out);
}

int x_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
  sqlite3_file* r = real(file);
  return r->pMethods->xShmLock(r, offset, n, flags);
}

void x_shm_barrier(sqlite3_file* file) {
  sqlite3_file* r = real(file);
  r->pMethods->xShmBarrier(r);
}

int x_shm_unmap(sqlite3_file* file, int delete_flag) {
  sqlite3_file* r = real(file);
  return r->pMethods->xShmUnmap(r, delete_flag);
}

// Version 2: no xFetch/xUnfetch, so SQLite never maps the file.
const sqlite3_io_methods kMethods = {
    2,
    x_close,
    x_read,
    x_write,
    x_truncate,
    x_sync,
    x_file_size,
    x_lock,
    x_unlock,
    x_check_reserved_lock,
    x_file_control,
    x_sector_size,
    x_device_characteristics,
    x_shm_map,
    x_shm_lock,
    x_shm_barrier,
    x_shm_unmap,
    nullptr,
    nullptr,
};

// Only the main database and its WAL are opened. Rollback journals, temp
// databases, statement journals and sorter files would hold plaintext; with
// WAL and temp_store=MEMORY SQLite needs none of them, so they are refused.
int x_open(sqlite3_vfs*, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  file->pMethods = nullptr;
  const int type = flags & 0x0FFF00;
  Kind kind;
  if (type == SQLITE_OPEN_MAIN_DB) {
    kind = Kind::db;
  } else if (type == SQLITE_OPEN_WAL) {
    kind = Kind::wal;
  } else {
    sqlite3_log(SQLITE_CANTOPEN, "sotto-aead: refusing to open a journal or temp file (0x%x)",
                type);
    return SQLITE_CANTOPEN;
  }
  if (name == nullptr) return SQLITE_CANTOPEN;
  auto key = find_key(sqlite3_uri_parameter(name, kKeyParam));
  if (key == nullptr) {
    sqlite3_log(SQLITE_CANTOPEN, "sotto-aead: no key for this database");
    return SQLITE_CANTOPEN;
  }
  auto* aead = reinterpret_cast<AeadFile*>(file);
  aead->state = new (std::nothrow) State;
  if (aead->state == nullptr) return SQLITE_NOMEM;
  aead->state->kind = kind;
  aead->state->key = std::move(key);
  sqlite3_file* r = real(file);
  std::memset(r, 0, static_cast<std::size_t>(g_root->szOsFile));
  const int rc = g_root->xOpen(g_root, name, r, flags, out_flags);
  if (rc != SQLITE_OK) {
    if (r->pMethods != nullptr) r->pMethods->xClose(r);
    delete aead->state;
    aead->state = nullptr;
    return rc;
  }
  file->pMethods = &kMethods;
  return SQLITE_OK;
}

sqlite3_vfs g_vfs;

}  // namespace

std::string register_key(std::shared_ptr<KeyBuffer> key) {
  unsigned char raw[16];
  randombytes_buf(raw, sizeof raw);
  char hex[2 * sizeof raw + 1];
  sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
  std::string token(hex);
  std::lock_guard lock(keys_mutex());
  keys()[token] = std::move(key);
  return token;
}

void unregister_key(const std::string& token) {
  std::lock_guard lock(keys_mutex());
  keys().erase(token);
}

bool decrypt_db_page(const KeyBuffer& key, std::uint32_t pgno, unsigned char* page,
                     std::size_t page_size) {
  const std::size_t start = pgno == 1 ? kPlainPrefix : 0;
  const std::size_t end = page_size - kReserveBytes;
  return unseal(key, db_ad(pgno, page), page + start, end - start, page + end);
}

}  // namespace detail

Result<void> register_vfs() {
  static std::once_flag once;
  static Result<void> result;
  std::call_once(once, [] {
    if (sodium_init() < 0) {
      result = fail(Errc::io, "could not initialise libsodium");
      return;
    }
    sqlite3_vfs* root = sqlite3_vfs_find(nullptr);
    if (root == nullptr) {
      result = fail(Errc::io, "SQLite has no default VFS");
      return;
    }
    detail::g_root = root;
    detail::g_vfs = *root;
    detail::g_vfs.zName = kVfsName;
    detail::g_vfs.szOsFile = detail::kRealOffset + root->szOsFile;
    detail::g_vfs.pNext = nullptr;
    detail::g_vfs.xOpen = detail::x_open;
    if (const int rc = sqlite3_vfs_register(&detail::g_vfs, 0); rc != SQLITE_OK) {
      result = fail(Errc::io, "could not register the encrypting SQLite VFS", sqlite3_errstr(rc));
    }
  });
  return result;
}

}  // namespace sotto::store
