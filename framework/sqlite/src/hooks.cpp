#include "faultscope/sqlite/hooks.hpp"

#include <sqlite3.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <new>
#include <string>

#include "faultscope/detail/fault_session.hpp"
#include "faultscope/sqlite/detail/worker.hpp"
#include "run_data.hpp"

namespace faultscope::sqlite {
namespace detail {
namespace {

thread_local binding current;

}  // namespace

const binding& current_binding() noexcept {
  return current;
}
binding_scope::binding_scope(const binding& b) noexcept : previous_(current) {
  current = b;
}
binding_scope::~binding_scope() {
  current = previous_;
}

namespace {

// ---- faults -------------------------------------------------------------

// Asks the run's plan whether this pass through `point` fails. Only jobs of a
// connection that opted in (and only on its worker thread) consult the plan,
// so the trace of every other run stays free of the thousands of VFS and
// allocator passes.
std::optional<faultscope::fault> fires(const char* point, bool enabled) {
  if (!enabled || !current.faults) return std::nullopt;
  auto d = current.faults->on_hit(point);
  if (!d || d->fault.kind == fault_kind::delay) return std::nullopt;
  return d->fault;
}

int vfs_fault(const char* point, int io_code, bool can_full = false, bool can_busy = false) {
  auto f = fires(point, current.vfs_faults);
  if (!f) return SQLITE_OK;
  // SQLite asks the VFS for errno to explain a failed open or I/O call
  // (sqlite3_system_errno); a real call would have left its own there, so an
  // injected failure leaves the fault's, not a stale one from an earlier call.
  errno = f->code;
  if (can_full && f->code == ENOSPC) return SQLITE_FULL;
  if (can_busy && f->code == EBUSY) return SQLITE_BUSY;
  return io_code;
}

// ---- the VFS shim --------------------------------------------------------

sqlite3_vfs* parent = nullptr;

struct shim_file {
  sqlite3_file base;
  // A C++ object in memory SQLite allocated: constructed in xOpen, destroyed in
  // xClose (or when the real open fails).
  struct info {
    std::shared_ptr<file_registry> registry;
    faultscope::resource_id id = 0;
  } * tracking;
  sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};

shim_file* shim(sqlite3_file* f) {
  return reinterpret_cast<shim_file*>(f);
}

int x_close(sqlite3_file* f) {
  auto* s = shim(f);
  int rc = s->real()->pMethods ? s->real()->pMethods->xClose(s->real()) : SQLITE_OK;
  if (auto* t = s->tracking) {
    if (t->registry) {
      std::lock_guard lock(t->registry->mutex);
      // Closed by connection::close: at the caller's close. Otherwise SQLite
      // closed it on its own (a journal at commit), and this line says so.
      const auto at = current.closing_at;
      if (t->registry->tracker)
        t->registry->tracker->release(t->id, at.line() != 0 ? at : std::source_location::current());
    }
    delete t;
    s->tracking = nullptr;
  }
  return rc;
}
int x_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  if (int rc = vfs_fault("sqlite.vfs.read", SQLITE_IOERR_READ)) return rc;
  return shim(f)->real()->pMethods->xRead(shim(f)->real(), buf, n, off);
}
int x_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  if (int rc = vfs_fault("sqlite.vfs.write", SQLITE_IOERR_WRITE, true)) return rc;
  return shim(f)->real()->pMethods->xWrite(shim(f)->real(), buf, n, off);
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  if (int rc = vfs_fault("sqlite.vfs.truncate", SQLITE_IOERR_TRUNCATE, true)) return rc;
  return shim(f)->real()->pMethods->xTruncate(shim(f)->real(), size);
}
int x_sync(sqlite3_file* f, int flags) {
  if (int rc = vfs_fault("sqlite.vfs.sync", SQLITE_IOERR_FSYNC, true)) return rc;
  return shim(f)->real()->pMethods->xSync(shim(f)->real(), flags);
}
int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
  return shim(f)->real()->pMethods->xFileSize(shim(f)->real(), size);
}
int x_lock(sqlite3_file* f, int level) {
  if (int rc = vfs_fault("sqlite.vfs.lock", SQLITE_IOERR_LOCK, false, true)) return rc;
  return shim(f)->real()->pMethods->xLock(shim(f)->real(), level);
}
int x_unlock(sqlite3_file* f, int level) {
  return shim(f)->real()->pMethods->xUnlock(shim(f)->real(), level);
}
int x_check_reserved(sqlite3_file* f, int* out) {
  return shim(f)->real()->pMethods->xCheckReservedLock(shim(f)->real(), out);
}
int x_file_control(sqlite3_file* f, int op, void* arg) {
  return shim(f)->real()->pMethods->xFileControl(shim(f)->real(), op, arg);
}
int x_sector_size(sqlite3_file* f) {
  return shim(f)->real()->pMethods->xSectorSize(shim(f)->real());
}
int x_device_characteristics(sqlite3_file* f) {
  return shim(f)->real()->pMethods->xDeviceCharacteristics(shim(f)->real());
}
int x_shm_map(sqlite3_file* f, int page, int size, int extend, void volatile** out) {
  auto* r = shim(f)->real();
  if (r->pMethods->iVersion < 2) return SQLITE_IOERR_SHMMAP;
  return r->pMethods->xShmMap(r, page, size, extend, out);
}
int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  auto* r = shim(f)->real();
  if (r->pMethods->iVersion < 2) return SQLITE_IOERR_SHMLOCK;
  return r->pMethods->xShmLock(r, offset, n, flags);
}
void x_shm_barrier(sqlite3_file* f) {
  auto* r = shim(f)->real();
  if (r->pMethods->iVersion >= 2) r->pMethods->xShmBarrier(r);
}
int x_shm_unmap(sqlite3_file* f, int del) {
  auto* r = shim(f)->real();
  if (r->pMethods->iVersion < 2) return SQLITE_OK;
  return r->pMethods->xShmUnmap(r, del);
}
int x_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** out) {
  auto* r = shim(f)->real();
  if (r->pMethods->iVersion < 3) {
    *out = nullptr;
    return SQLITE_OK;
  }
  return r->pMethods->xFetch(r, off, n, out);
}
int x_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
  auto* r = shim(f)->real();
  if (r->pMethods->iVersion < 3) return SQLITE_OK;
  return r->pMethods->xUnfetch(r, off, p);
}

const sqlite3_io_methods shim_methods = {
    3,
    x_close,
    x_read,
    x_write,
    x_truncate,
    x_sync,
    x_file_size,
    x_lock,
    x_unlock,
    x_check_reserved,
    x_file_control,
    x_sector_size,
    x_device_characteristics,
    x_shm_map,
    x_shm_lock,
    x_shm_barrier,
    x_shm_unmap,
    x_fetch,
    x_unfetch,
};

// The file's own name says what it is: "test.db", "test.db-journal".
std::string file_label(const char* name) {
  if (!name) return "(temporary file)";
  return std::filesystem::path(name).filename().string();
}

int x_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  auto* s = shim(f);
  s->base.pMethods = nullptr;
  s->tracking = nullptr;
  if (int rc = vfs_fault("sqlite.vfs.open", SQLITE_CANTOPEN)) return rc;
  int rc = parent->xOpen(parent, name, s->real(), flags, out_flags);
  if (rc != SQLITE_OK || !s->real()->pMethods) return rc;
  s->base.pMethods = &shim_methods;

  // Whose file is it? A job's, on a worker thread; else the run on this thread.
  faultscope::tracker* t = current.tracker;
  run_data* run = current.run;
  if (!run && current.tracker == nullptr) {
    run = run_data::of_current_run();
    t = run ? run->tracker : nullptr;
  }
  if (t && run) {
    auto* info = new shim_file::info{run->files, 0};
    info->id = t->acquire("sqlite.file", file_label(name), current.opened_at);
    s->tracking = info;
  }
  return SQLITE_OK;
}

int x_delete(sqlite3_vfs*, const char* name, int sync_dir) {
  return parent->xDelete(parent, name, sync_dir);
}
int x_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return parent->xAccess(parent, name, flags, out);
}
int x_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return parent->xFullPathname(parent, name, n, out);
}
void* x_dl_open(sqlite3_vfs*, const char* name) {
  return parent->xDlOpen(parent, name);
}
void x_dl_error(sqlite3_vfs*, int n, char* msg) {
  parent->xDlError(parent, n, msg);
}
void (*x_dl_sym(sqlite3_vfs*, void* h, const char* sym))(void) {
  return parent->xDlSym(parent, h, sym);
}
void x_dl_close(sqlite3_vfs*, void* h) {
  parent->xDlClose(parent, h);
}
int x_randomness(sqlite3_vfs*, int n, char* out) {
  return parent->xRandomness(parent, n, out);
}
int x_sleep(sqlite3_vfs*, int us) {
  return parent->xSleep(parent, us);
}
int x_current_time(sqlite3_vfs*, double* out) {
  return parent->xCurrentTime(parent, out);
}
int x_get_last_error(sqlite3_vfs*, int n, char* out) {
  return parent->xGetLastError ? parent->xGetLastError(parent, n, out) : 0;
}
int x_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
  return parent->xCurrentTimeInt64(parent, out);
}

sqlite3_vfs shim_vfs;

// ---- the allocator -------------------------------------------------------

// Every block carries its size and the account it was charged to. 16 bytes
// keep SQLite's 8-byte alignment.
struct alignas(16) header {
  memory_account* account;
  std::int64_t size;
};
static_assert(sizeof(header) == 16);

header* head(void* p) {
  return static_cast<header*>(p) - 1;
}

void* m_malloc(int n) {
  if (fires("sqlite.malloc", current.memory_faults)) return nullptr;
  auto* h = static_cast<header*>(std::malloc(sizeof(header) + static_cast<std::size_t>(n)));
  if (!h) return nullptr;
  h->size = n;
  h->account = current.run ? current.run->account : nullptr;
  if (h->account) {
    h->account->ref();
    h->account->bytes.fetch_add(n, std::memory_order_relaxed);
    h->account->blocks.fetch_add(1, std::memory_order_relaxed);
  }
  return h + 1;
}
void m_free(void* p) {
  if (!p) return;
  header* h = head(p);
  if (memory_account* a = h->account) {
    a->bytes.fetch_sub(h->size, std::memory_order_relaxed);
    a->blocks.fetch_sub(1, std::memory_order_relaxed);
    a->unref();
  }
  std::free(h);
}
void* m_realloc(void* p, int n) {
  if (fires("sqlite.malloc", current.memory_faults)) return nullptr;
  header* h = head(p);
  const std::int64_t old = h->size;
  auto* nh = static_cast<header*>(std::realloc(h, sizeof(header) + static_cast<std::size_t>(n)));
  if (!nh) return nullptr;
  nh->size = n;
  if (nh->account) nh->account->bytes.fetch_add(n - old, std::memory_order_relaxed);
  return nh + 1;
}
int m_size(void* p) {
  return p ? static_cast<int>(head(p)->size) : 0;
}
int m_roundup(int n) {
  return (n + 7) & ~7;
}
int m_init(void*) {
  return SQLITE_OK;
}
void m_shutdown(void*) {}

bool memory_hook = false;

bool do_install() {
  sqlite3_mem_methods methods{m_malloc,  m_free, m_realloc,  m_size,
                              m_roundup, m_init, m_shutdown, nullptr};
  // Accepted only before SQLite initialises; afterwards SQLITE_MISUSE.
  memory_hook = sqlite3_config(SQLITE_CONFIG_MALLOC, &methods) == SQLITE_OK;
  if (sqlite3_initialize() != SQLITE_OK) return false;
  parent = sqlite3_vfs_find(nullptr);
  if (!parent) return false;
  shim_vfs = sqlite3_vfs{};
  shim_vfs.iVersion = 2;
  shim_vfs.szOsFile = static_cast<int>(sizeof(shim_file)) + parent->szOsFile;
  shim_vfs.mxPathname = parent->mxPathname;
  shim_vfs.zName = vfs_name;
  shim_vfs.xOpen = x_open;
  shim_vfs.xDelete = x_delete;
  shim_vfs.xAccess = x_access;
  shim_vfs.xFullPathname = x_full_pathname;
  shim_vfs.xDlOpen = x_dl_open;
  shim_vfs.xDlError = x_dl_error;
  shim_vfs.xDlSym = x_dl_sym;
  shim_vfs.xDlClose = x_dl_close;
  shim_vfs.xRandomness = x_randomness;
  shim_vfs.xSleep = x_sleep;
  shim_vfs.xCurrentTime = x_current_time;
  shim_vfs.xGetLastError = x_get_last_error;
  shim_vfs.xCurrentTimeInt64 = x_current_time_int64;
  return sqlite3_vfs_register(&shim_vfs, 0) == SQLITE_OK;
}

// At load time, before anything else in the program can initialise SQLite.
[[maybe_unused]] const bool installed_at_load = install();

}  // namespace
}  // namespace detail

bool install() {
  static const bool ok = detail::do_install();
  return ok && detail::memory_hook;
}

bool memory_hook_installed() noexcept {
  return detail::memory_hook;
}

}  // namespace faultscope::sqlite
