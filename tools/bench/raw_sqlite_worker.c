/* The ceiling of aiosqlite's design: raw_sqlite.c's three workloads with
   every SQLite call handed to a worker thread and waited for, as a connection
   with its own thread must, and the rows of a query copied into one buffer so
   that the caller's thread can read them. No tracking, no coroutines, no
   allocation per call: only the hand-over. The caller waits by spinning or by
   sleeping on a condition variable.

     raw_sqlite_worker N spin|sleep     prints one JSON line, raw_sqlite.c's keys

   Same schema and counts as raw_sqlite.c: 1,000 users, WAL, a fresh directory;
   N queries, 5N churns, N transactions of 50 INSERTs. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROWS 1000

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

/* One call at a time: the caller sets `job`, the worker runs it and clears it.
   A cache line of its own: the waiting thread reads it in a loop, and must not
   pull away the line of what the worker writes meanwhile. */
static _Alignas(64) void (*_Atomic job)(void);
static _Alignas(64) char after_job[64] __attribute__((unused)); /* the next cache line */
static int sleeping; /* wait on the condition variable instead of spinning */
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static atomic_int quit;

static void* worker(void* arg) {
  (void)arg;
  for (;;) {
    void (*j)(void);
    if (sleeping) {
      pthread_mutex_lock(&mutex);
      while (!(j = atomic_load(&job)) && !atomic_load(&quit)) pthread_cond_wait(&cv, &mutex);
      pthread_mutex_unlock(&mutex);
    } else {
      while (!(j = atomic_load(&job)) && !atomic_load(&quit)) __builtin_ia32_pause();
    }
    if (!j) return 0;
    j();
    if (sleeping) pthread_mutex_lock(&mutex);
    atomic_store(&job, (void (*)(void))0);
    if (sleeping) {
      pthread_cond_broadcast(&cv);
      pthread_mutex_unlock(&mutex);
    }
  }
}

static void call(void (*j)(void)) {
  if (sleeping) {
    pthread_mutex_lock(&mutex);
    atomic_store(&job, j);
    pthread_cond_broadcast(&cv);
    while (atomic_load(&job)) pthread_cond_wait(&cv, &mutex);
    pthread_mutex_unlock(&mutex);
  } else {
    atomic_store(&job, j);
    while (atomic_load(&job)) __builtin_ia32_pause();
  }
}

static const char* path;
static sqlite3* db;
static sqlite3_stmt* stmt;
static int id, got;

static void setup(void) {
  sqlite3* s;
  sqlite3_stmt* ins;
  char name[64], email[64];
  if (sqlite3_open(path, &s) != SQLITE_OK ||
      sqlite3_exec(s,
                   "PRAGMA journal_mode=WAL; CREATE TABLE users(id INTEGER PRIMARY KEY, name "
                   "TEXT, email TEXT); BEGIN",
                   0, 0, 0) != SQLITE_OK ||
      sqlite3_prepare_v2(s, "INSERT INTO users(id,name,email) VALUES(?,?,?)", -1, &ins, 0) !=
          SQLITE_OK)
    exit(1);
  for (int i = 0; i < ROWS; i++) {
    snprintf(name, sizeof name, "user%d", i);
    snprintf(email, sizeof email, "user%d@example.com", i);
    sqlite3_bind_int(ins, 1, i);
    sqlite3_bind_text(ins, 2, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(ins, 3, email, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(ins) != SQLITE_DONE) exit(1);
    sqlite3_reset(ins);
  }
  sqlite3_finalize(ins);
  if (sqlite3_exec(s, "COMMIT", 0, 0, 0) != SQLITE_OK) exit(1);
  sqlite3_close(s);
}

/* query: the rows copied out, as any design that hands them to another thread
   must; one buffer, kept from query to query. */
static char* buf;
static size_t used, cap;
static void copy(const void* p, size_t n) {
  if (used + n > cap) {
    cap = 2 * (used + n);
    if (!(buf = realloc(buf, cap))) exit(1);
  }
  memcpy(buf + used, p, n);
  used += n;
}
static void do_prepare_all(void) {
  if (sqlite3_prepare_v2(db, "SELECT * FROM users", -1, &stmt, 0) != SQLITE_OK) exit(1);
}
static void do_copy_all(void) {
  used = 0;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    /* sqlite3_column_value once per column, then the cheap sqlite3_value_*
       readers, as the adapter does. */
    const sqlite3_int64 k = sqlite3_value_int64(sqlite3_column_value(stmt, 0));
    copy(&k, sizeof k);
    for (int c = 1; c <= 2; c++) {
      sqlite3_value* v = sqlite3_column_value(stmt, c);
      const unsigned char* t = sqlite3_value_text(v);
      const int n = sqlite3_value_bytes(v);
      copy(&n, sizeof n);
      copy(t, (size_t)n);
    }
    got++;
  }
}

/* txn: each statement one call, prepared each time as raw_sqlite.c does. */
static int k;
static void do_exec_begin(void) {
  if (sqlite3_exec(db, "BEGIN", 0, 0, 0) != SQLITE_OK) exit(1);
}
static void do_exec_commit(void) {
  if (sqlite3_exec(db, "COMMIT", 0, 0, 0) != SQLITE_OK) exit(1);
}
static void do_insert(void) {
  sqlite3_stmt* s;
  if (sqlite3_prepare_v2(db, "INSERT INTO log(k,v) VALUES(?,?)", -1, &s, 0) != SQLITE_OK) exit(1);
  sqlite3_bind_int(s, 1, k);
  sqlite3_bind_text(s, 2, "xxxxxxxxxxxxxxxx", -1, SQLITE_STATIC);
  if (sqlite3_step(s) != SQLITE_DONE) exit(1);
  sqlite3_finalize(s);
}
static void do_txn_setup(void) {
  if (sqlite3_exec(db,
                   "PRAGMA synchronous=NORMAL; CREATE TABLE IF NOT EXISTS log(k INTEGER, v TEXT)",
                   0, 0, 0) != SQLITE_OK)
    exit(1);
}

/* NOMUTEX, as a connection used by one thread at a time can be (the adapter's
   are): with SQLite's per-connection mutex this program ran `query` about a
   quarter slower (one-threaded raw_sqlite.c, which keeps it, about 12 %). */
static void do_open(void) {
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, 0) != SQLITE_OK)
    exit(1);
}
static void do_prepare(void) {
  if (sqlite3_prepare_v2(db, "SELECT * FROM users WHERE id=?", -1, &stmt, 0) != SQLITE_OK) exit(1);
  sqlite3_bind_int(stmt, 1, id);
}
static void do_fetch_all(void) {
  while (sqlite3_step(stmt) == SQLITE_ROW) got++;
}
static void do_finalize(void) {
  sqlite3_finalize(stmt);
}
static void do_close(void) {
  sqlite3_close(db);
}

int main(int argc, char** argv) {
  if (argc != 3 || atoi(argv[1]) <= 0 || (strcmp(argv[2], "spin") && strcmp(argv[2], "sleep"))) {
    fputs("usage: raw_sqlite_worker N spin|sleep\n", stderr);
    return 2;
  }
  const int n = atoi(argv[1]);
  sleeping = strcmp(argv[2], "sleep") == 0;
  char dir[] = "/tmp/rawworkerXXXXXX", file[300], cmd[300];
  if (!mkdtemp(dir)) return 1;
  snprintf(file, sizeof file, "%s/example.db", dir);
  path = file;
  setup();
  pthread_t t;
  pthread_create(&t, 0, worker, 0);

  call(do_open);
  double start = now();
  for (int i = 0; i < n; i++) {
    got = 0;
    call(do_prepare_all);
    call(do_copy_all);
    call(do_finalize);
    if (got != ROWS) return 3;
  }
  const double query = n / (now() - start);
  call(do_close);

  start = now();
  for (int i = 0; i < 5 * n; i++) {
    id = i % ROWS;
    got = 0;
    call(do_open);
    call(do_prepare);
    call(do_fetch_all);
    call(do_finalize);
    call(do_close);
    if (got != 1) return 3;
  }
  const double churn = 5 * n / (now() - start);

  call(do_open);
  call(do_txn_setup);
  start = now();
  for (int i = 0; i < n; i++) {
    k = i;
    call(do_exec_begin);
    for (int j = 0; j < 50; j++) call(do_insert);
    call(do_exec_commit);
  }
  const double txn = n / (now() - start);
  call(do_close);

  pthread_mutex_lock(&mutex);
  atomic_store(&quit, 1);
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mutex);
  pthread_join(t, 0);
  printf(
      "{\"peer\": \"raw sqlite3 on a worker thread (%s)\", \"query_ops_s\": %.1f, "
      "\"churn_ops_s\": %.1f, \"txn_ops_s\": %.1f}\n",
      argv[2], query, churn, txn);
  free(buf);
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : 1;
}
