#include "proc.h"

#include <fcntl.h>
#include <unistd.h>

namespace uring_udp {

std::string ReadSmallFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string text;
  char chunk[4096];
  for (;;) {
    ssize_t got = read(fd, chunk, sizeof(chunk));
    if (got <= 0) break;
    text.append(chunk, static_cast<size_t>(got));
    if (text.size() > (1 << 16)) break;
  }
  close(fd);
  return text;
}

char TaskState(int tid) {
  const std::string stat = ReadSmallFile("/proc/self/task/" + std::to_string(tid) + "/stat");
  // "TID (comm) S ...": comm may hold spaces and parentheses, so look after the last ')'.
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return '?';
  return stat[paren + 2];
}

std::string TaskStateText(int tid) {
  switch (TaskState(tid)) {
    case 'R': return "R (running)";
    case 'S': return "S (sleeping)";
    case 'D': return "D (disk sleep)";
    case 'T': return "T (stopped)";
    case 't': return "t (tracing stop)";
    case 'Z': return "Z (zombie)";
    case 'X': return "X (dead)";
    case 'I': return "I (idle)";
    default: return "?";
  }
}

std::string Trim(const std::string& text) {
  size_t end = text.size();
  while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == ' ')) end--;
  return text.substr(0, end);
}

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

}  // namespace uring_udp
