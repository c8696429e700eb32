/* The ceiling of aiosqlite's design: the `churn` workload of raw_sqlite.c
   (connect, select one user by id, close), with every SQLite call handed to a
   worker thread and waited for, as a connection with its own thread must. No
   tracking, no coroutines, no allocation per call: only the hand-over. The
   caller waits either by spinning or by sleeping on a condition variable.

     raw_sqlite_worker N spin|sleep     prints one JSON line (5N churns)

   The database is raw_sqlite.c's: 1,000 users, WAL, in a fresh directory. */
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

/* One call at a time: the caller sets `job`, the worker runs it and clears it. */
static void (*_Atomic job)(void);
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

static void do_open(void) {
  if (sqlite3_open(path, &db) != SQLITE_OK) exit(1);
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
  const int n = atoi(argv[1]) * 5; /* raw_sqlite.c's churn count */
  sleeping = strcmp(argv[2], "sleep") == 0;
  char dir[] = "/tmp/rawworkerXXXXXX", file[300], cmd[300];
  if (!mkdtemp(dir)) return 1;
  snprintf(file, sizeof file, "%s/example.db", dir);
  path = file;
  setup();
  pthread_t t;
  pthread_create(&t, 0, worker, 0);
  const double start = now();
  for (int i = 0; i < n; i++) {
    id = i % ROWS;
    got = 0;
    call(do_open);
    call(do_prepare);
    call(do_fetch_all);
    call(do_finalize);
    call(do_close);
    if (got != 1) return 3;
  }
  const double ops = n / (now() - start);
  pthread_mutex_lock(&mutex);
  atomic_store(&quit, 1);
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mutex);
  pthread_join(t, 0);
  printf("{\"peer\": \"raw sqlite3 on a worker thread (%s)\", \"churn_ops_s\": %.1f}\n", argv[2],
         ops);
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : 1;
}
