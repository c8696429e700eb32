// Opening a handle, for the adapter's connections and for the scratch databases
// a run sets up and checks: one place that turns a failed open into an error
// that says which operation failed and why the system refused it.
#pragma once

#include <string>

struct sqlite3;

namespace faultscope::sqlite::detail {

/// Opens `path` with extended result codes on. Throws `error` carrying the
/// extended code, with the operating system's reason when it gave one
/// ("unable to open database file: No such file or directory").
sqlite3* open_database(const std::string& path, int flags, const char* vfs);

}  // namespace faultscope::sqlite::detail
