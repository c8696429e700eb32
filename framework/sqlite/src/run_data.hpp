// The adapter's per-run state: the run's memory account, the registry its
// files report through, its scratch databases. Private to the adapter.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "faultscope/run.hpp"
#include "faultscope/sqlite/test_database.hpp"
#include "faultscope/tracker.hpp"

namespace faultscope::sqlite::detail {

/// Bytes and blocks SQLite holds for one run. Every block allocated on it holds
/// a reference, so a block freed after its run ended still finds it.
struct memory_account {
  std::atomic<std::int64_t> bytes{0};
  std::atomic<std::int64_t> blocks{0};
  std::atomic<std::int64_t> refs{1};
  void ref() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }
  void unref() noexcept {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
};

/// What a run's files release into; detached when the run ends, so a file
/// closed later (a connection abandoned by a crashed scenario) reaches no dead
/// tracker.
struct file_registry {
  std::mutex mutex;
  faultscope::tracker* tracker = nullptr;
};

struct run_data final : run_extension {
  run_data();
  ~run_data() override;
  void finish(faultscope::tracker& t) override;
  [[nodiscard]] bool still_in_use() const noexcept override { return call_left_running; }

  /// The adapter's state of the run on this thread (made on first use), or null.
  static run_data* of_current_run();

  faultscope::tracker* tracker = nullptr;
  memory_account* account;
  std::shared_ptr<file_registry> files;
  int connections = 0;  // open now (the run's thread)
  std::string scratch;  // the run's temporary directory, made on first use
  std::vector<std::unique_ptr<test_database>> databases;
  /// How long calls of a run that ended get to stop after their interrupt.
  std::chrono::milliseconds stop_grace{5000};
  bool call_left_running = false;  // one did not stop: the run keeps its state
};

/// A run's scratch directory, made: removed by `forget_scratch_dir` when the
/// run ends, or as the process exits first (normally, or by the watchdog).
void keep_scratch_dir(const std::string& dir);
void forget_scratch_dir(const std::string& dir);

}  // namespace faultscope::sqlite::detail
