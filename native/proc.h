// Small readers of /proc for the watchdog's diagnostics. They never block on a lock a ring
// thread can hold.
#pragma once

#include <string>
#include <vector>

namespace uring_udp {

// Whole small file, or "" when it cannot be read (a thread that exited, /proc/.../stack
// without CAP_SYS_ADMIN, ...).
std::string ReadSmallFile(const std::string& path);
// The one-letter state from /proc/self/task/TID/stat ('R', 'S', 'D', ...), or '?' if unknown.
char TaskState(int tid);
// "D (disk sleep)" style text for the state.
std::string TaskStateText(int tid);
std::string Trim(const std::string& text);
std::vector<std::string> SplitLines(const std::string& text);

}  // namespace uring_udp
