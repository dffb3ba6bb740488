// The watchdog: one thread per process that notices requests that never complete and ring
// threads stuck in the kernel, and tells JavaScript.
//
// It observes every ring through atomics only (observation.h), never makes an io_uring call,
// and never takes a lock a ring thread can hold: its registry lock is shared with JS threads
// only. It reads /proc/self/task/TID/{stat,wchan,syscall,stack} and /proc/self/fdinfo/RINGFD
// (the kernel's fdinfo for io_uring only try-locks the ring) and delivers reports to each
// environment's JS thread through that environment's own thread-safe function, so a report
// reaches JS while the ring thread stays stuck.
#pragma once

#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "observation.h"

namespace uring_udp {

struct StallReport {
  std::string kind;       // deadline | stuck | starved | overflow | recover
  std::string recovered;  // for recover: the kind that ended
  std::string owner;      // ring | socket | receiver
  uint32_t owner_id = 0;
  std::vector<uint32_t> sockets;  // receiver: the sockets on it (of the environment told)
  int fd = -1;
  uint32_t opcode = 0;
  uint32_t request_id = 0;
  double age_ms = 0;
  int tid = 0;
  std::string state, wchan, syscall, stack;
  bool in_kernel = false;
  uint32_t sq_head = 0, sq_tail = 0, cq_head = 0, cq_tail = 0;
  uint64_t cq_overflow = 0, overflow_flag_seen = 0;
  std::vector<std::string> fdinfo;
};

// Per environment (main thread or worker): where its reports go.
class WatchdogChannel {
 public:
  static void CallJs(Napi::Env env, Napi::Function callback, WatchdogChannel* context, void* data);
  using Function = Napi::TypedThreadSafeFunction<WatchdogChannel, void, CallJs>;

  bool Open(Napi::Env env, Napi::Function handler);  // false: already open (the first handler stays)
  void Post(StallReport report);  // watchdog thread
  void Close();                   // JS thread, at env cleanup
  void Ref(Napi::Env env);
  void Unref(Napi::Env env);

 private:
  std::mutex mutex_;
  bool open_ = false;
  std::vector<StallReport> pending_;
  bool notify_pending_ = false;
  Function function_;
};

// One socket on a receiver thread, for the starvation check and for naming the sockets a
// stall concerns. Added and removed by JS threads (under WatchMembers' mutex, which the receiver
// thread never takes); the tracking fields are the watchdog thread's.
struct WatchMember {
  uint32_t socket_id = 0;
  std::shared_ptr<WatchdogChannel> channel;  // its environment's
  std::shared_ptr<RecvWatch> watch;
  int64_t starved_ns = 0;  // 0: the watchdog's default
  int64_t stuck_ns = 0;    // what the socket asked of its receiver's thread (0: the default)
  // Watchdog thread only.
  int64_t readable_since_ns = 0;
  bool starved_active = false;
  int64_t last_sample_ns = 0;
};
struct WatchMembers {
  std::mutex mutex;
  std::vector<std::shared_ptr<WatchMember>> list;
  void Add(std::shared_ptr<WatchMember> member);
  bool Remove(const std::shared_ptr<RecvWatch>& watch);  // whether it was there
  // The strictest stuck threshold a member asked for (0: none did).
  int64_t StuckNs();
};

struct WatchedThresholds {
  std::atomic<int64_t> stuck_ns{2000LL * 1000000};
  std::atomic<int64_t> starved_ns{2000LL * 1000000};
};

// One ring or socket under watch. The watchdog thread alone touches the tracking fields.
struct Watched {
  std::string owner;  // ring | receiver
  uint32_t owner_id = 0;
  std::shared_ptr<ThreadObservation> observation;
  std::shared_ptr<DeadlineTable> deadlines;  // rings only
  std::shared_ptr<WatchdogChannel> channel;  // rings: their environment's
  std::shared_ptr<WatchMembers> members;     // receivers: their sockets (reports go to theirs)
  WatchedThresholds thresholds;              // 0: the watchdog's defaults

  // Watchdog thread only.
  int64_t d_state_since_ns = 0;
  bool stuck_active = false;
  bool starved_active = false;
  int64_t readable_since_ns = 0;
  uint32_t deadline_active[kDeadlineSlots] = {};  // request id whose stall was reported, per slot
  int64_t slot_readable_since_ns[kDeadlineSlots] = {};
  bool slot_starved[kDeadlineSlots] = {};
  uint64_t reported_overflow = 0;
  uint64_t reported_flag_seen = 0;
  int64_t last_overflow_report_ns = 0;
  int64_t next_proc_sample_ns = 0;
  uint64_t seen_progress = ~0ull;   // observation->progress at the last sample
  int64_t last_sample_ns = 0;       // when that sample was taken
};

class Watchdog {
 public:
  static Watchdog& Instance();
  void Register(const std::shared_ptr<Watched>& watched);
  void Unregister(const std::shared_ptr<Watched>& watched);
  void SetDefaults(int64_t stuck_ns, int64_t starved_ns, int64_t interval_ns);
  int64_t default_stuck_ns() const { return default_stuck_ns_.load(); }
  int64_t default_starved_ns() const { return default_starved_ns_.load(); }
  unsigned watched_count();
  // A request with a deadline (timeoutMs/progressMs) was armed: check every interval again.
  // Cheap when the watchdog already does (one relaxed load).
  void DeadlineArmed();

 private:
  Watchdog() = default;
  void Run();
  bool Check(Watched& watched, int64_t now);  // true: it has requests with deadlines armed
  void CheckThread(Watched& watched, int64_t now, bool sample);
  bool CheckDeadlines(Watched& watched, int64_t now, bool sample);
  void CheckMembers(Watched& watched, int64_t now);
  void CheckMember(Watched& watched, WatchMember& member, int64_t now);
  // To the ring's environment, or to every environment with sockets on the receiver (each told
  // of its own sockets).
  void Post(Watched& watched, StallReport report);
  int64_t StuckNs(const Watched& watched) const;
  int64_t StarvedNs(const Watched& watched) const;
  void CheckOverflow(Watched& watched, int64_t now);
  StallReport Describe(Watched& watched, const char* kind, bool with_proc);

  std::mutex mutex_;  // registry: JS threads and the watchdog thread only
  std::condition_variable wake_;
  std::vector<std::shared_ptr<Watched>> watched_;
  std::thread thread_;
  bool stop_ = false;
  std::atomic<int64_t> default_stuck_ns_{2000LL * 1000000};
  std::atomic<int64_t> default_starved_ns_{2000LL * 1000000};
  std::atomic<int64_t> interval_ns_{10LL * 1000000};
  // The thread checks every interval while some request has a deadline armed, and otherwise
  // every kSampleNs (100 ms: stuck threads, starvation, CQ overflow need no finer grain), so
  // that an idle or merely receiving process is not woken 100 times a second.
  std::atomic<bool> fine_ticks_{true};
  bool deadline_armed_ = false;  // under mutex_: wakes a coarse sleep
};

// Node-API entry points.
Napi::Value SetWatchdogHandler(const Napi::CallbackInfo& info);
Napi::Value ConfigureWatchdog(const Napi::CallbackInfo& info);
Napi::Value WatchdogInfo(const Napi::CallbackInfo& info);
std::shared_ptr<WatchdogChannel> ChannelFor(Napi::Env env);

// What the addon keeps per environment (Node-API instance data): where its watchdog reports go,
// and how receivers wake its JS thread (made on first use).
class EnvLink;
struct EnvData {
  std::shared_ptr<WatchdogChannel> channel;
  std::shared_ptr<EnvLink> receivers;
};
EnvData* EnvDataFor(Napi::Env env);

}  // namespace uring_udp
